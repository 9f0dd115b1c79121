"""stet: make parameter sweeps resumable.

Decorate an experiment with ``@stet.once``: every completed call is recorded in a small,
readable store, and every later call with the same parameters is skipped.
"""

from ._admin import reset, status
from ._convert import convert
from ._once import DEFAULT_STORE, once
from ._values import UnsupportedValueError
from .formats.base import DamagedStoreError, StoreConnectionError

__all__ = [
    "DEFAULT_STORE",
    "DamagedStoreError",
    "StoreConnectionError",
    "UnsupportedValueError",
    "convert",
    "once",
    "reset",
    "status",
]
__version__ = "0.1.0"
