"""``convert``: copy a store into another format, or import results made without stet."""

from __future__ import annotations

import os
from pathlib import Path

from . import _report
from ._columns import OUTPUT_COLUMN
from ._registry import get_store
from ._snapshot import StoreCopy
from .formats import is_url, redacted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._values import Cell

__all__ = ["convert"]


def convert(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> int:
    """Copy the store at ``source`` into a new store at ``destination``.

    Each path's extension picks its format (``.csv``, ``.jsonl``, ``.json``,
    ``.sqlite``/``.db``, ``.parquet``); every run keeps its identity. ``source`` may
    also be a CSV of results made before stet: its columns are taken as the key, and
    records without a ``_stet_timestamp`` get the time of the conversion.

    The runs' output directories stay where they are, and the new store's records name
    the same directories: a path relative to the old store's directory is made
    relative to the new one's (``../data/...`` when it lies elsewhere); an absolute one
    (from a PostgreSQL store) becomes relative when it lies below the new store's
    directory, else stays absolute; into a PostgreSQL store, every path is absolute.

    Returns:
        How many records were copied.

    Raises:
        FileNotFoundError: nothing exists at ``source``.
        FileExistsError: ``destination`` already exists (stet never writes over it).
    """
    origin, target = get_store(source), get_store(destination)
    copy = origin.export()
    count = target.fill(_rebased(copy, origin.path, target.path))
    _report.converted(count, redacted(os.fspath(source)), redacted(os.fspath(destination)))
    return count


def _rebased(copy: StoreCopy, source: str, destination: str) -> StoreCopy:
    """``copy`` with each ``_stet_output`` cell naming its directory from ``destination``."""
    if OUTPUT_COLUMN not in copy.header:
        return copy
    at = copy.header.index(OUTPUT_COLUMN)
    memo: dict[Cell, Cell] = {"": ""}
    rows = []
    for row in copy.rows:
        cell = row[at]
        new = memo.get(cell)
        if new is None:
            new = memo[cell] = _output_cell(cell, source, destination)
        rows.append((*row[:at], new, *row[at + 1 :]))
    return StoreCopy(copy.header, rows, copy.owner, copy.history)


def _output_cell(cell: Cell, source: str, destination: str) -> str:
    """What a ``_stet_output`` cell of the store at ``source`` holds at ``destination``."""
    from ._outputpaths import output_path

    path = output_path(source, cell)
    if is_url(destination):
        return str(path)
    home = Path(os.path.dirname(destination))
    relative = not is_url(source) and not os.path.isabs(str(cell))
    if not relative and not path.is_relative_to(home):
        return str(path)
    try:
        return Path(os.path.relpath(path, home)).as_posix()
    except ValueError:  # another drive (Windows): no relative path leads there
        return str(path)
