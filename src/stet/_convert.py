"""``convert``: copy a store into another format, or import results made without stet."""

from __future__ import annotations

import os

from . import _report
from ._registry import copy_store
from .formats import redacted

__all__ = ["convert"]


def convert(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> int:
    """Copy the store at ``source`` into a new store at ``destination``.

    Each path's extension picks its format (``.csv``, ``.jsonl``, ``.json``,
    ``.sqlite``/``.db``, ``.parquet``); every run keeps its identity. ``source`` may
    also be a CSV of results made before stet: its columns are taken as the key, and
    records without a ``_stet_timestamp`` get the time of the conversion.

    Returns:
        How many records were copied.

    Raises:
        FileNotFoundError: nothing exists at ``source``.
        FileExistsError: ``destination`` already exists (stet never writes over it).
    """
    count = copy_store(source, destination)
    _report.converted(count, redacted(os.fspath(source)), redacted(os.fspath(destination)))
    return count
