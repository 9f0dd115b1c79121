"""stet: make parameter sweeps resumable.

Decorate an experiment with ``@stet.once``: every completed call is recorded in a small,
readable store, and every later call with the same parameters is skipped.
"""

from ._admin import status
from ._convert import convert
from ._defaults import DEFAULT_STORE
from ._errors import DamagedStoreError, StoreConnectionError, UnsupportedValueError
from ._once import once
from ._outputsread import outputs
from ._read import load, records
from ._reset import reset

__all__ = [
    "DEFAULT_STORE",
    "DamagedStoreError",
    "Explanation",
    "Failure",
    "StoreConnectionError",
    "SweepSummary",
    "UnsupportedValueError",
    "convert",
    "load",
    "once",
    "output_dir",
    "outputs",
    "records",
    "reset",
    "status",
    "sweep",
]
__version__ = "0.1.0"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._explain import Explanation
    from ._outputs import output_dir
    from ._sweep import Failure, SweepSummary, sweep
else:

    def __getattr__(name: str) -> object:
        """The sweep runner and outputs load on first use: ``import stet`` stays fast."""
        if name in ("Failure", "SweepSummary", "sweep"):
            from . import _sweep

            return getattr(_sweep, name)
        if name == "Explanation":  # loaded with the first f.explain(...)
            from ._explain import Explanation

            return Explanation
        if name == "output_dir":
            from ._outputs import output_dir

            globals()[name] = output_dir
            return output_dir
        raise AttributeError(f"module 'stet' has no attribute {name!r}")
