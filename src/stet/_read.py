"""``records`` and ``load``: a store's runs as Python values, or as a pandas DataFrame."""

from __future__ import annotations

import os

from ._admin import matcher
from ._once import DEFAULT_STORE
from ._results import is_result_column, result_cell_value
from ._store import ERROR_COLUMN, FUNCTION_COLUMN, RESERVED_PREFIX, TIMESTAMP_COLUMN, get_store
from ._values import ArrayValue, value_from_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import pandas

    from ._values import Cell

    StorePath = str | os.PathLike[str]

__all__ = ["load", "records"]


def records(
    store: StorePath = DEFAULT_STORE,
    key_dict: Mapping[str, Any] | None = None,
    *,
    function: str | None = None,
    failed: bool = False,
) -> list[dict[str, Any]]:
    """A store's completed runs as plain dicts, in the order they were recorded.

    Each dict holds the record's own columns: parameters and results as Python values
    (numbers, strings, bools, None, tuples; lists in results), ``_stet_timestamp`` as a
    timezone-aware ``datetime``, and ``_stet_function`` when the store holds runs of
    several functions.

    Args:
        store: the store's path or URL.
        key_dict: only the runs with these values (as ``stet.reset`` takes them:
            ``{"alpha": 0.1}`` or the text the store shows, ``{"alpha": "0.1"}``).
        function: only this function's runs (its qualified name).
        failed: the failure records instead (``failures="record"``), each with its
            ``_stet_error`` (``"ValueError: message"``).

    Raises:
        FileNotFoundError: no store exists at ``store``.
        ValueError: ``key_dict`` names a column the store does not have.
    """
    return _records(store, key_dict, function, failed)[1]


def _records(
    store: StorePath,
    key_dict: Mapping[str, Any] | None,
    function: str | None,
    failed: bool,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns (in store order) and the chosen records."""
    handle = get_store(store)
    snapshot = handle.snapshot()
    match = matcher(snapshot, key_dict, function, f"stet.records: {handle.name}")
    order = [c for c in snapshot.header if not c.startswith(RESERVED_PREFIX)]
    labels = (FUNCTION_COLUMN,) if function is None else ()  # one function: no label
    order += [c for c in (*labels, ERROR_COLUMN, TIMESTAMP_COLUMN) if c in snapshot.header]
    chosen: list[dict[str, Any]] = []
    for row in snapshot.rows:
        values = snapshot.values_of(row)
        if not match(values) or (values.get(ERROR_COLUMN, "") != "") != failed:
            continue
        chosen.append({c: _value(c, values[c]) for c in order if values[c] != ""})
    used = set().union(*chosen) if chosen else set(order) - {ERROR_COLUMN}
    return [c for c in order if c in used], chosen


def _value(column: str, cell: Cell) -> Any:
    """A cell as the Python value it stands for."""
    if column == TIMESTAMP_COLUMN:
        from datetime import datetime

        return datetime.fromisoformat(str(cell))
    if column in (FUNCTION_COLUMN, ERROR_COLUMN):
        return str(cell)
    if is_result_column(column):
        return result_cell_value(cell)
    if type(cell) is not str:
        return cell
    value = value_from_text(cell)
    return value.nested() if isinstance(value, ArrayValue) else value


def load(
    store: StorePath = DEFAULT_STORE,
    key_dict: Mapping[str, Any] | None = None,
    *,
    function: str | None = None,
    failed: bool = False,
) -> pandas.DataFrame:
    """A store's completed runs as a pandas DataFrame, one row per run.

    Parameter and result columns get the dtype their values share (``int64``,
    ``float64``, ``bool``; ``Int64`` and ``boolean`` when some runs lack the column;
    pandas' text dtype for text; ``object`` for tuples and mixed values), and
    ``_stet_timestamp`` is a timezone-aware ``datetime64`` column in UTC. Takes the
    arguments of ``stet.records``; needs pandas (``pip install "stet[pandas]"``).

    Raises:
        ImportError: pandas is not installed.
        FileNotFoundError: no store exists at ``store``.
    """
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "stet.load needs pandas: pip install 'stet[pandas]'. "
            "stet.records(store) gives the same runs as plain dicts without it."
        ) from None
    columns, chosen = _records(store, key_dict, function, failed)
    data = {c: _series(pandas, c, [row.get(c, _MISSING) for row in chosen]) for c in columns}
    return pandas.DataFrame(data, columns=columns)


_MISSING: Any = object()


def _series(pandas: Any, column: str, values: list[Any]) -> Any:
    """One column with the dtype its values share."""
    missing = any(v is _MISSING for v in values)
    present = [v for v in values if v is not _MISSING]
    if column == TIMESTAMP_COLUMN:
        stamps = [None if v is _MISSING else v for v in values]
        return pandas.to_datetime(pandas.Series(stamps, dtype=object), utc=True)
    kinds = set(map(type, present))
    if kinds == {bool}:
        dtype = "boolean" if missing else "bool"
        return pandas.Series([None if v is _MISSING else v for v in values], dtype=dtype)
    if kinds == {int} and all(-(2**63) <= v < 2**63 for v in present):
        dtype = "Int64" if missing else "int64"
        return pandas.Series([None if v is _MISSING else v for v in values], dtype=dtype)
    if kinds and kinds <= {int, float} and all(abs(v) < 2**53 for v in present if type(v) is int):
        return pandas.Series(
            [float("nan") if v is _MISSING else float(v) for v in values], dtype="float64"
        )
    if kinds == {str}:  # pandas' own text dtype (str in pandas 3, object before)
        return pandas.Series([None if v is _MISSING else v for v in values])
    return pandas.Series([None if v is _MISSING else v for v in values], dtype=object)
