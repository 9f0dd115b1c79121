"""Where a run's outputs live: the names of its directories, and the path its record holds.

A function with ``outputs="data"`` keeps each run's directory at
``data/<function>/<run>/``:

* ``<function>`` is the name its runs are kept under (``simulate``, ``Model.fit``) when
  that is a safe file name, else its safe characters and a short hash
  (``main.simulate-1a2b3c4d`` for ``main.<locals>.simulate``);
* ``<run>`` is the run's key as ``column=text`` pairs (``alpha=0.1,seed=2``) when every
  text is short and made of safe characters (letters, digits, ``.``, ``_``, ``+``,
  ``-``), else ``id-`` and 16 hex digits of a hash of the run's key, stable across
  processes and machines. A function without key parameters has one run: ``run``.

The record's ``_stet_output`` cell holds the directory's path relative to the store's own
directory (``data/simulate/alpha=0.1,seed=2``), so a project moved as a whole keeps its
outputs; a store on a server holds the absolute path.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ._values import text_of_cell
from .formats import is_url

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._values import Cell

__all__ = [
    "STAGING",
    "check_outputs",
    "function_dir_name",
    "output_cell",
    "output_path",
    "run_dir_name",
    "set_aside_path",
]

STAGING = ".stet-staging"  # runs in progress, under the outputs directory
_SAFE_TEXT = re.compile(r"[A-Za-z0-9._+-]+")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
_MAX_NAME = 100  # characters of a readable directory name; longer ones get an id


def check_outputs(outputs: object, store_path: str) -> str | None:
    """The absolute path of an ``outputs=`` directory, or None; ``TypeError`` or
    ``ValueError`` naming the fix for a wrong one."""
    if outputs is None:
        return None
    if isinstance(outputs, bytes) or not isinstance(outputs, str | os.PathLike):
        raise TypeError(
            f'@stet.once: outputs must be a directory path such as "data", not {outputs!r}'
        )
    given = os.fspath(outputs)
    if not given or is_url(given):
        raise ValueError(
            f"@stet.once: outputs must be a directory on a file system, not {given!r}; "
            'give a path such as outputs="data"'
        )
    path = os.path.abspath(os.path.expanduser(given))
    if not is_url(store_path) and path == store_path:
        raise ValueError(
            f"@stet.once: outputs={given!r} is the store file itself; give a directory "
            'beside it, such as outputs="data"'
        )
    return path


def function_dir_name(function: str) -> str:
    """The directory a function's runs are kept in: its name, made safe."""
    if _SAFE_NAME.fullmatch(function) and len(function) <= _MAX_NAME:
        return function
    readable = function.replace(".<locals>.", ".")  # main.<locals>.f: main.f-1a2b3c4d
    readable = re.sub(r"[^A-Za-z0-9._+-]+", "_", readable).strip("._")[-60:] or "function"
    return f"{readable}-{_digest(function.encode())[:8]}"


def run_dir_name(cells: Mapping[str, Cell], key: bytes) -> str:
    """A run's directory name: ``alpha=0.1,seed=2`` where safe and short, else an id."""
    if not cells:
        return "run"
    parts = []
    for column, cell in cells.items():
        text = text_of_cell(cell)
        if not _SAFE_TEXT.fullmatch(text) or not _SAFE_NAME.fullmatch(column):
            return _id_name(key)
        parts.append(f"{column}={text}")
    name = ",".join(parts)
    return name if len(name) <= _MAX_NAME else _id_name(key)


def _id_name(key: bytes) -> str:
    return "id-" + _digest(key)[:16]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def output_cell(store_path: str, directory: str) -> str:
    """What a record's ``_stet_output`` cell holds for a run directory."""
    if is_url(store_path):
        return directory
    relative = os.path.relpath(directory, os.path.dirname(store_path))
    return Path(relative).as_posix()


def output_path(store_path: str, cell: Cell) -> Path:
    """The run directory a record's ``_stet_output`` cell names, as an absolute path."""
    text = str(cell)
    if is_url(store_path) or os.path.isabs(text):
        return Path(text)
    return Path(os.path.normpath(os.path.join(os.path.dirname(store_path), text)))


def set_aside_path(root: str, reason: str, stamp: str, inside: str) -> str:
    """Where a directory is moved aside: ``<root>/.stet-<reason>/<stamp>/<inside>``."""
    return os.path.join(root, f".stet-{reason}", stamp, inside)
