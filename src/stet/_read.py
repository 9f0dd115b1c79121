"""``records`` and ``load``: a store's runs as Python values, or as a pandas DataFrame."""

from __future__ import annotations

import os

from ._columns import (
    ERROR_COLUMN,
    FUNCTION_COLUMN,
    OUTPUT_COLUMN,
    RESERVED_PREFIX,
    TIMESTAMP_COLUMN,
)
from ._defaults import DEFAULT_STORE
from ._errors import DamagedStoreError, facts_of, no_store
from ._matching import matcher, record_times
from ._registry import get_store
from ._results import is_result_column
from ._snapshot import Snapshot
from ._values import FILE_PREFIX, ArrayValue, result_value_of_cell, value_of_cell

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any, Literal

    import pandas

    from ._index import KeySpec
    from ._values import Cell

    StorePath = str | os.PathLike[str]

__all__ = ["load", "records"]

_FILES = ("paths", "values")  # what ``files=`` takes


def records(
    store: StorePath = DEFAULT_STORE,
    key_dict: Mapping[str, Any] | None = None,
    *,
    function: str | None = None,
    failed: bool = False,
    files: Literal["paths", "values"] = "paths",
    pickle: bool = False,
) -> list[dict[str, Any]]:
    """A store's completed runs as plain dicts, in the order they were recorded.

    Each dict holds the record's own columns: parameters and results as Python values
    (numbers, strings, bools, None, tuples; lists in results), ``_stet_timestamp`` as a
    timezone-aware ``datetime``, and ``_stet_function`` when the store holds runs of
    several functions. A run with an output directory (``@stet.once(outputs=...)``)
    has ``_stet_output``: its directory's absolute ``pathlib.Path``, and a result kept
    as a file (a ``file:<name>`` cell) is that file's ``pathlib.Path`` (or, with
    ``files="values"``, its value). A record made before a key parameter with a
    default was added holds that default, as the skip logic reads it, when the
    function is decorated in this process.

    Args:
        store: the store's path or URL.
        key_dict: only the runs with these values (as ``stet.reset`` takes them:
            ``{"alpha": 0.1}`` or the text the store shows, ``{"alpha": "0.1"}``).
        function: only this function's runs (its qualified name).
        failed: the failure records instead (``failures="record"``), each with its
            ``_stet_error`` (``"ValueError: message"``) and, when its run had outputs,
            the ``_stet_output`` directory its files were set aside in.
        files: what a result kept as a file gives: ``"paths"`` (default) its path,
            ``"values"`` its value read from the file (an array memory-mapped).
        pickle: with ``files="values"``, also unpickle results kept as pickle files
            (only files you trust: unpickling runs code).

    Raises:
        FileNotFoundError: no store exists at ``store``.
        ValueError: ``key_dict`` names a column the store does not have, or ``files``
            is neither ``"paths"`` nor ``"values"``.
    """
    columns, values = _table(
        store, key_dict, function, failed, "stet.records", False, (files, pickle)
    )
    return [
        {c: v for c, v in zip(columns, row, strict=True) if v is not _MISSING}
        for row in zip(*values, strict=True)
    ]


_MISSING: Any = object()  # the record lacks the column
_SHAREABLE = (int, float, str, bool, type(None))  # values one object may stand for


def _table(
    store: StorePath,
    key_dict: Mapping[str, Any] | None,
    function: str | None,
    failed: bool,
    api: str,
    text_times: bool,
    files: tuple[str, bool] = ("paths", False),
) -> tuple[list[str], list[list[Any]]]:
    """The chosen records column by column: the columns that any of them has (stet's
    own last), and each column's values (``_MISSING`` where a record lacks it).

    Column by column, a grid axis's repeated texts are read once each. Timestamps are
    ``datetime`` values, or their text with ``text_times`` (for pandas to read).
    ``api`` (``stet.load``) starts the messages of errors in the arguments. A key
    parameter added later with a default has that default in the records that lack it
    and that its function counts as runs (a function decorated in this process).
    ``_stet_output`` is each run directory's absolute path (text with ``text_times``),
    and ``files`` says what a ``file:`` result cell gives (``"paths"``, ``"values"``)
    and whether a pickle file is read.
    """
    from ._runner import key_specs  # dataclasses: loaded on first use

    if files[0] not in _FILES:
        raise ValueError(
            f'{api}: files must be "paths" (a result kept as a file gives its path) or '
            f'"values" (its value, read from the file), not {files[0]!r}'
        )
    handle = get_store(store)
    snapshot = handle.snapshot()
    times = record_times(snapshot, handle.name)  # checked whatever the records chosen
    snapshot = _with_defaults(snapshot, key_specs(handle))
    header, stored = snapshot.header, snapshot.columns
    chosen = _chosen(snapshot, key_dict, function, failed, api, handle.name)
    order = [c for c in header if not c.startswith(RESERVED_PREFIX)]
    labels = (FUNCTION_COLUMN,) if function is None else ()  # one function: no label
    own = (*labels, OUTPUT_COLUMN, ERROR_COLUMN, TIMESTAMP_COLUMN)
    order += [c for c in own if c in header]
    if not chosen:
        empty = [c for c in order if c not in (ERROR_COLUMN, OUTPUT_COLUMN)]
        return empty, [[] for _ in empty]
    every = len(chosen) == len(stored[0])  # chosen is in order: then it is every record
    run_dirs = _run_dirs(handle.path, stored, header, None if every else chosen)
    columns, values = [], []
    for column in order:
        cells = stored[header.index(column)]
        if not every:
            cells = [cells[i] for i in chosen]
        if column == FUNCTION_COLUMN:
            owner = snapshot.owner or ""
            cells = [cell or owner for cell in cells]
        if all(cell == "" for cell in cells):
            continue
        columns.append(column)
        if column == TIMESTAMP_COLUMN and not text_times:
            chosen_times = times if every else [times[i] for i in chosen]
            values.append([_MISSING if t is None else t for t in chosen_times])
            continue
        if column == OUTPUT_COLUMN:
            shown = [d if d is None or not text_times else str(d) for d in run_dirs]
            values.append([_MISSING if d is None else d for d in shown])
            continue
        found = _column_values(column, cells)
        if is_result_column(column) and run_dirs:
            found = _with_files(found, run_dirs, files[0] == "values", files[1], text_times, api)
        values.append(found)
    return columns, values


def _run_dirs(
    store_path: str, stored: list[list[Cell]], header: list[str], chosen: list[int] | None
) -> list[Path | None]:
    """The chosen records' run directories (None: a record without one); [] when no
    record has one."""
    if OUTPUT_COLUMN not in header:
        return []
    from ._outputpaths import output_path  # pathlib: when a store has outputs

    cells = stored[header.index(OUTPUT_COLUMN)]
    if chosen is not None:
        cells = [cells[i] for i in chosen]
    return [None if cell == "" else output_path(store_path, cell) for cell in cells]


def _with_files(
    found: list[Any],
    run_dirs: list[Path | None],
    read: bool,
    pickle: bool,
    text: bool,
    api: str,
) -> list[Any]:
    """A result column with each ``file:<name>`` value of a run with a directory as
    the file's path (``text``: as text), or read (``read``)."""
    shown = list(found)
    for i, value in enumerate(found):
        run_dir = run_dirs[i]
        if type(value) is not str or not value.startswith(FILE_PREFIX) or run_dir is None:
            continue
        if read:
            shown[i] = _read_file(value, run_dir, pickle, api)
            continue
        path = run_dir.joinpath(*value[len(FILE_PREFIX) :].split("/"))
        shown[i] = str(path) if text else path
    return shown


def _read_file(cell: str, run_dir: Path, pickle: bool, api: str) -> Any:
    """The value a ``file:`` result cell names, read from its run's directory."""
    from ._resultfiles import read_result_file

    try:
        return read_result_file(cell, run_dir, pickle=pickle)
    except DamagedStoreError as error:
        raise DamagedStoreError(str(error), api=api) from None
    except TypeError:
        if pickle or not cell.endswith(".pkl"):
            raise
        raise TypeError(
            f"{api}: the result {run_dir / cell[len(FILE_PREFIX) :]} is a pickle file; pass "
            f"pickle=True to {api} to read it (only a file you trust: unpickling runs the "
            'code of whoever wrote it), or files="paths" for its path'
        ) from None


def _with_defaults(snapshot: Snapshot, specs: list[KeySpec]) -> Snapshot:
    """``snapshot`` with the defaults filled in that the skip logic reads into records.

    A record of a function lacking a key parameter (one added to the key since it was
    recorded) counts as that function's run with the parameter's default, when every
    parameter it lacks has a default and it holds no column outside the key (as
    ``FunctionIndex`` reads it); here it gets those defaults' cells.
    """
    header, columns = snapshot.header, snapshot.columns
    count = len(columns[0]) if header else 0
    filled: dict[str, list[Cell]] = {}
    for spec in specs:
        lacking = [
            c
            for c in spec.columns
            if c not in header or "" in columns[header.index(c)] or c in filled
        ]
        defaults = dict(zip(spec.columns, spec.default_texts, strict=True))
        texts = {c: text for c, text in defaults.items() if text is not None}
        fillable = [c for c in lacking if c in texts]
        if not count or not fillable:
            continue
        for column in fillable:
            if column not in filled:
                cells = columns[header.index(column)] if column in header else [""] * count
                filled[column] = list(cells)
        labels = columns[header.index(FUNCTION_COLUMN)] if FUNCTION_COLUMN in header else None
        owner = snapshot.owner or ""
        required = [  # without a default: a record lacking one is no run of the function
            columns[header.index(c)] if c in header else None
            for c in spec.columns
            if defaults[c] is None
        ]
        foreign = [
            columns[i]
            for i, c in enumerate(header)
            if not c.startswith(RESERVED_PREFIX)
            and c not in spec.columns
            and not is_result_column(c)
        ]
        for i in range(count):
            if (str(labels[i]) or owner if labels is not None else owner) != spec.function:
                continue
            if any(cells is None or cells[i] == "" for cells in required):
                continue
            if any(cells[i] != "" for cells in foreign):
                continue
            for column in fillable:
                cells = filled[column]
                if cells[i] == "":
                    cells[i] = texts[column]
    if not filled:
        return snapshot
    new = [c for c in filled if c not in header]
    keys = [c for c in header if not c.startswith(RESERVED_PREFIX)]
    own = [c for c in header if c.startswith(RESERVED_PREFIX)]
    wider = [*keys, *new, *own]
    taken = {c: filled.get(c) or columns[header.index(c)] for c in header}
    taken.update(filled)
    return Snapshot(wider, None, snapshot.owner, [taken[c] for c in wider], snapshot.first_line)


def _chosen(
    snapshot: Snapshot,
    key_dict: Mapping[str, Any] | None,
    function: str | None,
    failed: bool,
    api: str,
    store: str,
) -> list[int]:
    """The positions of the records that are of ``function``, match ``key_dict``, and
    are failures (``failed``) or completed runs."""
    header = snapshot.header
    count = len(snapshot.columns[0]) if header else 0
    if ERROR_COLUMN not in header:
        chosen = [] if failed else list(range(count))
    else:
        errors = snapshot.columns[header.index(ERROR_COLUMN)]
        chosen = [i for i, error in enumerate(errors) if (error != "") == failed]
    if key_dict or function is not None:
        match = matcher(snapshot, key_dict, function, api, store)
        rows = snapshot.rows
        chosen = [i for i in chosen if match(snapshot.values_of(rows[i]))]
    return chosen


def _column_values(column: str, cells: list[Cell]) -> list[Any]:
    """A column's cells as the Python values they stand for (``_MISSING`` for ``""``)."""
    if column == TIMESTAMP_COLUMN:  # text, for pandas (records has its datetimes)
        return [_MISSING if cell == "" else str(cell) for cell in cells]
    if column in (FUNCTION_COLUMN, ERROR_COLUMN):
        return [_MISSING if cell == "" else str(cell) for cell in cells]
    if is_result_column(column):
        return [_MISSING if cell == "" else result_value_of_cell(cell) for cell in cells]
    memo: dict[str, Any] = {"": _MISSING}  # by text only: 1 == 1.0 as a dict key
    values = []
    for cell in cells:
        if type(cell) is not str:
            values.append(cell)
            continue
        value = memo.get(cell, memo)
        if value is memo:
            value = value_of_cell(cell)
            if isinstance(value, ArrayValue):
                value = value.nested()
            elif type(value) in _SHAREABLE:
                memo[cell] = value
        values.append(value)
    return values


def load(
    store: StorePath = DEFAULT_STORE,
    key_dict: Mapping[str, Any] | None = None,
    *,
    function: str | None = None,
    failed: bool = False,
    files: Literal["paths", "values"] = "paths",
    pickle: bool = False,
) -> pandas.DataFrame:
    """A store's completed runs as a pandas DataFrame, one row per run.

    Parameter and result columns get the dtype their values share (``int64``,
    ``float64``, ``bool``; ``Int64`` and ``boolean`` when some runs lack the column;
    pandas' text dtype for text; ``object`` for tuples and mixed values), and
    ``_stet_timestamp`` is a timezone-aware ``datetime64`` column in UTC.
    ``_stet_output`` (runs with an output directory) is a text column of absolute
    paths, as is a result kept as a file, unless ``files="values"`` reads it (an
    ``object`` column of arrays, frames or plain data). Takes the arguments of
    ``stet.records``; needs pandas (``pip install "stet[pandas]"``).

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
    try:
        choice = (files, pickle)
        columns, values = _table(store, key_dict, function, failed, "stet.load", True, choice)
    except FileNotFoundError as error:  # as records raises it, named for load
        facts = facts_of(error)
        if facts is None:  # not a missing store: a file of it
            raise FileNotFoundError(
                error.errno, f"stet.load: {error.strerror}", error.filename
            ) from None
        raise no_store(f"stet.load: {error.strerror}", facts.store, facts.why) from None
    data = {c: _series(pandas, c, column) for c, column in zip(columns, values, strict=True)}
    return pandas.DataFrame(data, columns=columns)


def _series(pandas: Any, column: str, values: list[Any]) -> Any:
    """One column with the dtype its values share."""
    missing = any(v is _MISSING for v in values)  # by identity: an array has no truth
    present = [v for v in values if v is not _MISSING] if missing else values
    filled = [None if v is _MISSING else v for v in values] if missing else values
    if column == TIMESTAMP_COLUMN:
        stamps = pandas.Series(filled, dtype=object)
        try:
            return pandas.to_datetime(stamps, utc=True, format="ISO8601")
        except ValueError:  # ISO 8601 forms pandas does not read (checked before)
            from datetime import datetime

            times = [None if s is None else datetime.fromisoformat(s) for s in filled]
            return pandas.to_datetime(pandas.Series(times, dtype=object), utc=True)
    kinds = set(map(type, present))
    if kinds == {bool}:
        return pandas.Series(filled, dtype="boolean" if missing else "bool")
    if kinds == {int} and min(present) >= -(2**63) and max(present) < 2**63:
        return pandas.Series(filled, dtype="Int64" if missing else "int64")
    if kinds and kinds <= {int, float}:
        exact = int not in kinds or all(abs(v) < 2**53 for v in present if type(v) is int)
        if exact:  # every value is a float64 as it is
            nan = float("nan")
            return pandas.Series(
                [nan if v is _MISSING else v for v in values] if missing else values,
                dtype="float64",
            )
    if kinds == {str}:  # pandas' own text dtype (str in pandas 3, object before)
        return pandas.Series(filled)
    return pandas.Series(filled, dtype=object)
