"""``outputs``: the completed runs that have an output directory, as (parameters, path)."""

from __future__ import annotations

import os

from ._columns import OUTPUT_COLUMN, RESERVED_PREFIX
from ._defaults import DEFAULT_STORE
from ._read import records
from ._results import is_result_column

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path
    from typing import Any

__all__ = ["outputs"]


def outputs(
    store: str | os.PathLike[str] = DEFAULT_STORE,
    key_dict: Mapping[str, Any] | None = None,
    *,
    function: str | None = None,
) -> Iterator[tuple[dict[str, Any], Path]]:
    """The completed runs that have an output directory, as ``(parameters, path)``
    pairs in the order they were recorded::

        for parameters, path in stet.outputs("results.csv"):
            data = numpy.load(path / "trace.npy")
            print(parameters["alpha"], data.mean())

    ``parameters`` holds the run's key values as ``stet.records`` gives them (no
    results, no ``_stet_`` columns); ``path`` is the run's directory
    (``data/<function>/<run>/``, absolute). Failure records and directories no record
    names (those set aside, those of runs still running) are never given; a directory
    removed by hand is still given, as its record names it. The store is
    read when ``outputs`` is called, so a missing store or a wrong ``key_dict`` is an
    error then, not at the first step of the loop.

    Args:
        store: the store's path or URL.
        key_dict: only the runs with these values (as ``stet.records`` takes them).
        function: only this function's runs (its qualified name).

    Raises:
        FileNotFoundError: no store exists at ``store``.
        ValueError: ``key_dict`` names a column the store does not have.
    """
    pairs = []
    for record in records(store, key_dict, function=function):
        path = record.get(OUTPUT_COLUMN)
        if path is None:  # a run of a function without outputs
            continue
        parameters = {
            column: value
            for column, value in record.items()
            if not column.startswith(RESERVED_PREFIX) and not is_result_column(column)
        }
        pairs.append((parameters, path))
    return iter(pairs)
