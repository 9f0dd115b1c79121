"""A store's records read fresh (``Snapshot``), and what status, reset and convert make of them."""

from __future__ import annotations

from ._columns import (
    ERROR_COLUMN,
    FUNCTION_COLUMN,
    OUTPUT_COLUMN,
    RESERVED_PREFIX,
    TIMESTAMP_COLUMN,
    now_text,
)
from ._index import FunctionIndex
from ._results import is_result_column
from ._values import typed_cell, typed_result_cell
from .formats.base import DamagedStoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ._index import KeySpec
    from ._provenance import History
    from ._values import Cell
    from .formats.base import Chunk

__all__ = [
    "Snapshot",
    "StoreCopy",
    "completed_stamps",
    "header_problem",
    "typed_rows",
    "version_keys",
]


class Snapshot:
    """Every record of a store, read fresh from its file: by rows or by columns."""

    def __init__(
        self,
        header: list[str],
        rows: list[list[Cell]] | None,
        owner: str | None,
        columns: list[list[Cell]] | None = None,
        first_line: int = 1,  # the line number of the first record, for messages
    ) -> None:
        self.header = header
        self._rows = rows
        self._columns = columns
        self.owner = owner
        self.first_line = first_line

    @property
    def rows(self) -> list[list[Cell]]:
        if self._rows is None:
            self._rows = [list(row) for row in zip(*self.columns, strict=True)]
        return self._rows

    @property
    def columns(self) -> list[list[Cell]]:
        """One list of cells per header column."""
        if self._columns is None:
            rows = self.rows
            self._columns = [[row[i] for row in rows] for i in range(len(self.header))]
        return self._columns

    def function_of(self, row: Sequence[Cell]) -> str | None:
        if FUNCTION_COLUMN in self.header:
            return str(row[self.header.index(FUNCTION_COLUMN)]) or self.owner
        return self.owner

    def key_columns_of(self, row: Sequence[Cell]) -> list[str]:
        return [
            c
            for c, cell in zip(self.header, row, strict=True)
            if cell != "" and not c.startswith(RESERVED_PREFIX) and not is_result_column(c)
        ]

    def kept_rows(
        self, header: list[str], keep: Callable[[dict[str, Cell]], bool]
    ) -> tuple[list[list[Cell]], int]:
        """The rows ``keep`` accepts (given as :meth:`values_of` gives them), laid out
        as ``header``, and how many it rejected."""
        kept = []
        removed = 0
        for row in self.rows:
            values = self.values_of(row)
            if keep(values):
                kept.append([values.get(c, "") for c in header])
            else:
                removed += 1
        return kept, removed

    def values_of(self, row: Sequence[Cell]) -> dict[str, Cell]:
        """A record as column -> cell, its function filled in (``_stet_function``)."""
        values = dict(zip(self.header, row, strict=True))
        values[FUNCTION_COLUMN] = self.function_of(row) or ""
        return values


class StoreCopy:
    """A store's records, owner and code history, as ``stet.convert`` copies them."""

    __slots__ = ("header", "history", "owner", "rows")

    def __init__(
        self,
        header: list[str],
        rows: list[tuple[Cell, ...]],
        owner: str | None,
        history: History,
    ) -> None:
        self.header = header
        self.rows = rows
        self.owner = owner
        self.history = history


def version_keys(
    snapshot: Snapshot, spec: KeySpec, entries: Sequence[dict[str, str]]
) -> list[set[bytes]]:
    """The keys of one function's done runs, per version of its code history (the
    first set: runs from before the history)."""
    from ._provenance import version_finder

    header = snapshot.header
    if TIMESTAMP_COLUMN not in header:
        return [set() for _ in range(len(entries) + 1)]
    stamp = header.index(TIMESTAMP_COLUMN)
    groups: list[list[list[Cell]]] = [[] for _ in range(len(entries) + 1)]
    find = version_finder(entries)
    for row in snapshot.rows:
        if snapshot.function_of(row) == spec.function:
            groups[find(str(row[stamp]))].append(row)
    found = []
    for rows in groups:
        index = FunctionIndex(spec)
        if rows:
            index.add_columns(header, [list(column) for column in zip(*rows, strict=True)])
        found.append(index.keys)
    return found


def completed_stamps(snapshot: Snapshot, function: str) -> list[str]:
    """The timestamps of one function's completed runs (not its failure records)."""
    header = snapshot.header
    if TIMESTAMP_COLUMN not in header:
        return []
    stamp = header.index(TIMESTAMP_COLUMN)
    error = header.index(ERROR_COLUMN) if ERROR_COLUMN in header else -1
    return [
        str(row[stamp])
        for row in snapshot.rows
        if snapshot.function_of(row) == function and (error < 0 or row[error] == "")
    ]


def header_problem(header: list[str], name: str) -> DamagedStoreError | None:
    """Why a store's columns are not a stet store's, if they are not."""
    if header and TIMESTAMP_COLUMN not in header:
        return DamagedStoreError(
            f"{name} is not a stet store: it has no {TIMESTAMP_COLUMN} column (its "
            f"columns: {', '.join(header)}). Use another store path, or import it with "
            "stet.convert; stet changed nothing."
        )
    if len(set(header)) != len(header):
        return DamagedStoreError(
            f"{name} is damaged: its header names a column twice "
            f"({', '.join(header)}). Repair the first line; stet changed nothing."
        )
    return None


def typed_rows(chunk: Chunk) -> tuple[list[str], list[tuple[Cell, ...]]]:
    """A store's records in the layout of a stet store, numbers as numbers."""
    source = chunk.header
    keys = [c for c in source if not c.startswith(RESERVED_PREFIX)]
    labels = [c for c in (FUNCTION_COLUMN, OUTPUT_COLUMN, ERROR_COLUMN) if c in source]
    header = [*keys, *labels, TIMESTAMP_COLUMN]
    columns = [_typed_column(chunk.columns[source.index(c)], is_result_column(c)) for c in keys]
    columns += [chunk.columns[source.index(c)] for c in labels]
    if TIMESTAMP_COLUMN in source:
        now = now_text()
        stamps = chunk.columns[source.index(TIMESTAMP_COLUMN)]
        columns.append([stamp or now for stamp in stamps] if "" in stamps else stamps)
    else:
        columns.append([now_text()] * chunk.count)
    return header, list(zip(*columns, strict=True))


def _typed_column(cells: list[Cell], result: bool) -> list[Cell]:
    """A column's cells with numbers' text turned into numbers (results: nothing else,
    so a list stays a list)."""
    typed = typed_result_cell if result else typed_cell
    distinct = set(cells)
    if len(distinct) * 2 <= len(cells):  # a grid axis: convert each distinct cell once
        return list(map({cell: typed(cell) for cell in distinct}.__getitem__, cells))
    return list(map(typed, cells))
