"""The records nearest a call, and the columns where each differs from it.

A call's values are :class:`Wanted` (one per key column); a record differs from them in a
column when its cell is another run's value, when it lacks a column whose default does
not make it count, or when it holds a column the call has no parameter for. The nearest
records are those with the fewest differing columns (the latest first among equals).
Each differing column is a :class:`Difference` with a sentence that says how.
"""

from __future__ import annotations

import heapq
import operator
from datetime import datetime

from ._columns import ERROR_COLUMN, FUNCTION_COLUMN, RESERVED_PREFIX, TIMESTAMP_COLUMN
from ._results import is_result_column
from ._values import (
    ArrayValue,
    display,
    key_of_cell,
    result_value_of_cell,
    text_of_cell,
    value_of_cell,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from ._snapshot import Snapshot
    from ._values import Cell

__all__ = [
    "NEAREST",
    "Difference",
    "Near",
    "Wanted",
    "counted_by_default",
    "counts",
    "key_columns",
    "kind_of",
    "last_exact",
    "near_lines",
    "nearest",
    "number_of",
    "python_text",
    "record_of",
    "rows_of",
    "split_failures",
]

NEAREST = 3  # records shown at most


class Wanted:
    """One key column of a call: its value's key and how messages show it."""

    __slots__ = ("column", "default_key", "default_shown", "key", "kind", "number", "shown", "text")

    def __init__(
        self,
        column: str,
        key: bytes,  # the identity key of the call's value
        shown: str,  # the value as messages show it (``0.10000000000000002``, ``'1'``)
        kind: str,  # ``a number``, ``a bool``: said when a record's value is of another kind
        number: float | None = None,  # the value, when it is a number or bool ("close")
        text: str | None = None,  # a cell text that also matches (the command line's value)
        default_key: bytes | None = None,  # what a record that lacks the column counts as
        default_shown: str | None = None,
    ) -> None:
        self.column = column
        self.key = key
        self.shown = shown
        self.kind = kind
        self.number = number
        self.text = text
        self.default_key = default_key
        self.default_shown = default_shown


class Difference:
    """A column where a record and a call differ: ``.column``, ``.stored`` (the record's
    value as shown; None when it lacks the column), ``.given`` (the call's; None when it
    has no such parameter) and ``.text``, the sentence that says how."""

    __slots__ = ("column", "given", "stored", "text")

    def __init__(self, column: str, stored: str | None, given: str | None, text: str) -> None:
        self.column = column
        self.stored = stored
        self.given = given
        self.text = text  # ``alpha: 0.1 in the store, 0.10000000000000002 in this call``

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Difference({self.text!r})"


class Near:
    """A record near a call: ``.function``, ``.record`` (as ``stet.records`` gives it),
    ``.differences`` and ``.line`` (its line in the store's messages)."""

    __slots__ = ("differences", "function", "line", "record")

    def __init__(
        self,
        function: str | None,
        record: dict[str, Any],
        differences: tuple[Difference, ...],
        line: int,
    ) -> None:
        self.function = function
        self.record = record
        self.differences = differences
        self.line = line

    def __repr__(self) -> str:
        return f"Near(line={self.line}, differences={list(self.differences)!r})"


def kind_of(value: Any) -> str:
    """What kind of value it is, for messages: ``a number``, ``a bool``, ``a string``."""
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "None"
    if isinstance(value, ArrayValue):
        return "an array"
    return f"a {type(value).__name__}"


def number_of(value: Any) -> float | None:
    """A number or bool as a float (to say when two are close); None for other values."""
    return float(value) if isinstance(value, int | float) else None


def rows_of(snapshot: Snapshot, function: str | None, owner: str | None) -> list[int]:
    """The positions of the records of ``function`` (every record's, for None)."""
    if function is None or not snapshot.header:
        return list(range(len(snapshot.columns[0]) if snapshot.header else 0))
    if FUNCTION_COLUMN not in snapshot.header:
        count = len(snapshot.columns[0])
        return list(range(count)) if (snapshot.owner or owner) == function else []
    labels = snapshot.columns[snapshot.header.index(FUNCTION_COLUMN)]
    default = snapshot.owner or owner or ""
    return [i for i, label in enumerate(labels) if (label or default) == function]


def split_failures(snapshot: Snapshot, rows: list[int]) -> tuple[list[int], list[int]]:
    """``rows`` parted into completed records and failure records."""
    if ERROR_COLUMN not in snapshot.header:
        return rows, []
    errors = snapshot.columns[snapshot.header.index(ERROR_COLUMN)]
    return [i for i in rows if errors[i] == ""], [i for i in rows if errors[i] != ""]


def key_columns(header: Sequence[str]) -> list[str]:
    return [c for c in header if not c.startswith(RESERVED_PREFIX) and not is_result_column(c)]


class _Judge:
    """How a record's cell compares with one wanted value, each distinct cell once:
    0 the same, 1 another value that looks alike (``0.1`` and ``0.1000000001``, ``1``
    and ``True``), 2 another value."""

    def __init__(self, wanted: Wanted) -> None:
        self.wanted = wanted
        self.seen: dict[tuple[type, Cell], int] = {}
        lacking = wanted.default_key
        self.lacking = 0 if lacking is not None and lacking == wanted.key else 2
        self.lacking_differs = self.lacking > 0

    def score(self, cell: Cell) -> int:
        if cell == "":
            return self.lacking
        seen = (type(cell), cell)
        found = self.seen.get(seen)
        if found is None:
            wanted = self.wanted
            if text_of_cell(cell) == wanted.text or key_of_cell(cell) == wanted.key:
                found = 0
            else:
                found = 1 if _alike(value_of_cell(cell), wanted) else 2
            self.seen[seen] = found
        return found

    def differs(self, cell: Cell) -> bool:
        return self.score(cell) > 0


def _alike(value: Any, wanted: Wanted) -> bool:
    """Whether another value looks like the wanted one: a close number, equal text
    (``'1'`` and ``1``), or equal in Python (``1`` and ``True``)."""
    if _close(value, wanted.number):
        return True
    if display(value).strip("'\"") == wanted.shown.strip("'\""):
        return True
    return isinstance(value, int | float) and value == wanted.number


def _close(value: Any, number: float | None) -> bool:
    if number is None or isinstance(value, bool) or not isinstance(value, int | float):
        return False
    scale = max(abs(number), abs(value))
    return bool(scale) and abs(number - value) <= 1e-6 * scale


def counts(snapshot: Snapshot, rows: Sequence[int], wanted: Sequence[Wanted]) -> list[int]:
    """How many columns each of ``rows`` differs in from ``wanted``."""
    return [-(-n // _ALIKE) for n in _scores(snapshot, rows, wanted)]


_ALIKE = 1 << 20  # a score: differing columns * _ALIKE, less one per column that looks alike


def _scores(snapshot: Snapshot, rows: Sequence[int], wanted: Sequence[Wanted]) -> list[int]:
    """Each row's score against ``wanted``: the lower, the nearer; 0, the same run.

    Column by column, each distinct cell is judged once (a grid axis repeats its values).
    """
    header = snapshot.header
    found = [0] * len(rows)
    every = snapshot.columns and len(rows) == len(snapshot.columns[0])  # rows is in order
    given = {w.column: w for w in wanted}
    weights = (0, _ALIKE - 1, _ALIKE)
    for column in key_columns(header):
        cells = snapshot.columns[header.index(column)]
        if not every:
            cells = [cells[row] for row in rows]
        judge = _Judge(given[column]) if column in given else None
        if judge is None:
            table = {cell: 0 if cell == "" else _ALIKE for cell in set(cells)}
        else:
            table = {cell: weights[judge.score(cell)] for cell in set(cells)}
        found = list(map(operator.add, found, map(table.__getitem__, cells)))
    for w in wanted:
        if w.column not in header and _Judge(w).lacking_differs:
            found = [n + _ALIKE for n in found]
    return found


def nearest(
    snapshot: Snapshot,
    rows: Sequence[int],
    wanted: Sequence[Wanted],
    here: str,
    show: Callable[[Cell], str],
    owner: str | None,
    limit: int = NEAREST,
) -> tuple[list[Near], list[int]]:
    """The nearest of ``rows`` (at most ``limit``, latest first among equals) and the
    rows that match exactly, in store order.

    ``here`` names the call in messages (``in this call``, ``given``); ``show`` shows
    a record's cell.
    """
    found = _scores(snapshot, rows, wanted)
    exact = [row for row, n in zip(rows, found, strict=True) if n == 0]
    unrelated = _ALIKE * (len(wanted) + 1)  # a record holding none of the call's columns
    shares = _sharing(snapshot, wanted)
    order = heapq.nsmallest(
        limit,
        (
            (n, -row)
            for row, n in zip(rows, found, strict=True)
            if n > 0 and (n < unrelated or shares(row))
        ),
    )
    near = [
        Near(
            _function_of(snapshot, -row, owner),
            record_of(snapshot, -row),
            tuple(differences(snapshot, -row, wanted, here, show)),
            snapshot.first_line + -row,
        )
        for _, row in order
    ]
    return near, exact


def last_exact(
    snapshot: Snapshot, rows: Sequence[int], wanted: Sequence[Wanted]
) -> dict[str, Any] | None:
    """The last of ``rows`` that matches ``wanted`` exactly, as a record; None if none."""
    found = [row for row, n in zip(rows, counts(snapshot, rows, wanted), strict=True) if n == 0]
    return record_of(snapshot, found[-1]) if found else None


def _sharing(snapshot: Snapshot, wanted: Sequence[Wanted]) -> Callable[[int], bool]:
    """Whether a record holds any of the call's columns (or the call has none)."""
    header = snapshot.header
    held = [snapshot.columns[header.index(w.column)] for w in wanted if w.column in header]
    if not wanted:
        return lambda row: True
    return lambda row: any(cells[row] != "" for cells in held)


def _function_of(snapshot: Snapshot, row: int, owner: str | None) -> str | None:
    if FUNCTION_COLUMN in snapshot.header:
        label = snapshot.columns[snapshot.header.index(FUNCTION_COLUMN)][row]
        return str(label) or snapshot.owner or owner
    return snapshot.owner or owner


def differences(
    snapshot: Snapshot,
    row: int,
    wanted: Sequence[Wanted],
    here: str,
    show: Callable[[Cell], str],
) -> list[Difference]:
    """Each column where one record differs from ``wanted``, in the store's order."""
    header = snapshot.header
    given = {w.column: w for w in wanted}
    found = []
    columns = key_columns(header)
    for column in columns:
        cell = snapshot.columns[header.index(column)][row]
        w = given.get(column)
        if w is None:
            if cell != "":
                stored = show(cell)
                found.append(Difference(column, stored, None, _extra(column, stored, here)))
        elif _Judge(w).differs(cell):
            found.append(_differ(w, cell, here, show))
    for w in wanted:
        if w.column not in columns and _Judge(w).lacking_differs:
            found.append(_differ(w, "", here, show))
    return found


def _extra(column: str, stored: str, here: str) -> str:
    if here == "given":
        return f"{column}: {stored} in the store, not given (add --where {column}=...)"
    return (
        f"{column}: {stored} in the store, not a parameter now: a record that holds it "
        f"never counts (a parameter {column} with the default {stored} would count it)"
    )


def _differ(w: Wanted, cell: Cell, here: str, show: Callable[[Cell], str]) -> Difference:
    column = w.column
    if cell == "":
        if w.default_key is None:
            why = (
                "the record lacks it (a parameter added after it ran?), and without a "
                "default records that lack it never count"
                if here != "given"
                else "the record lacks it"
            )
            return Difference(column, None, w.shown, f"{column}: {w.shown} {here}; {why}")
        return Difference(
            column,
            None,
            w.shown,
            f"{column}: {w.shown} {here}; the record lacks it (a parameter added after it "
            f"ran?), so it counts as {w.default_shown}, the default",
        )
    stored = show(cell)
    text = f"{column}: {stored} in the store, {w.shown} {here}"
    value = value_of_cell(cell)
    kind = kind_of(value)
    if kind != w.kind:
        text += f" ({kind} in the store, {w.kind} {here}: stet keeps them apart"
        text += ", bool is its own type)" if "a bool" in (kind, w.kind) else ")"
    elif _close(value, w.number):
        text += (
            " (close, but stet compares numbers exactly: round the value before the "
            f"call, such as round({column}, 6), to make them one run)"
        )
    return Difference(column, stored, w.shown, text)


def record_of(snapshot: Snapshot, row: int) -> dict[str, Any]:
    """One record as ``stet.records`` gives it: its own columns, as Python values."""
    record: dict[str, Any] = {}
    for column, cells in zip(snapshot.header, snapshot.columns, strict=True):
        cell = cells[row]
        if cell == "":
            continue
        if column == TIMESTAMP_COLUMN:
            try:
                record[column] = datetime.fromisoformat(str(cell))
            except ValueError:
                record[column] = str(cell)
        elif column in (ERROR_COLUMN, FUNCTION_COLUMN):
            record[column] = str(cell)
        elif is_result_column(column):
            record[column] = result_value_of_cell(cell)
        else:
            record[column] = value_of_cell(cell)
    return record


def python_text(cell: Cell) -> str:
    """A cell as the value a call would pass (``'abc'``, ``0.1``, ``True``)."""
    return display(value_of_cell(cell))


def counted_by_default(snapshot: Snapshot, row: int | None, wanted: Sequence[Wanted]) -> list[str]:
    """The key columns a matching record lacks, which count as their defaults."""
    if row is None:
        return []
    header = snapshot.header
    return [
        f"(the record has no {w.column}: it was recorded before that parameter was added, "
        f"and counts as {w.column}={w.default_shown}, the default)"
        for w in wanted
        if w.column not in header or snapshot.columns[header.index(w.column)][row] == ""
    ]


def near_lines(near: list[Near], total: int, of: str, wanted: Sequence[Wanted]) -> list[str]:
    """The lines that show the nearest records and the columns where each differs."""
    if not near:
        return []
    few = min(len(d.differences) for d in near)
    column = "column" if few == 1 else "columns"
    of = f" {of}" if of else ""
    lines = [f"nearest records{of} ({len(near)} of {total:,}; fewest differing: {few} {column}):"]
    for record in near:
        values = record.record
        shown = ", ".join(
            f"{c}={display(v)}" for c, v in values.items() if not c.startswith(RESERVED_PREFIX)
        )
        stamp = values.get(TIMESTAMP_COLUMN)
        when = f", recorded {stamp.isoformat()}" if isinstance(stamp, datetime) else ""
        lines.append(f"  line {record.line:,}: {shown}{when}")
        lines += [f"    {d.text}" for d in record.differences]
        lines += [
            f"    ({w.column}: the record lacks it, and counts as {w.column}="
            f"{w.default_shown}, the default)"
            for w in wanted
            if w.column not in values and w.default_key is not None and w.default_key == w.key
        ]
    return lines
