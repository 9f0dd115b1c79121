"""The index of one function's runs in a store: what identifies them, and which are done."""

from __future__ import annotations

from ._columns import ERROR_COLUMN, FUNCTION_COLUMN, OUTPUT_COLUMN, RESERVED_PREFIX
from ._results import is_result_column
from ._values import key_of_cell, record_keys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._values import Cell

__all__ = ["FunctionIndex", "KeySpec", "add_records"]


class KeySpec:
    """What identifies one function's runs: its name and key columns, in order."""

    __slots__ = ("columns", "default_keys", "default_texts", "function", "results")

    def __init__(
        self,
        function: str,
        columns: tuple[str, ...],
        default_keys: tuple[bytes | None, ...],  # each column's default's key, None if none
        default_texts: tuple[str | None, ...],  # the same defaults as cell text, for messages
        results: bool = False,  # keep each run's result cells in the index
    ) -> None:
        self.function = function
        self.columns = columns
        self.default_keys = default_keys
        self.default_texts = default_texts
        self.results = results

    def _identity(self) -> tuple[object, ...]:
        return (self.function, self.columns, self.default_keys, self.results)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeySpec):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())


class FunctionIndex:
    """The keys of one function's completed and failed runs, as the store holds them now."""

    def __init__(self, spec: KeySpec) -> None:
        self.spec = spec
        self.keys: set[bytes] = set()  # completed runs
        # key -> its result cells (if kept), in the order of result_columns ("": none)
        self.results: dict[bytes, tuple[Cell, ...]] = {}
        self.result_columns: tuple[str, ...] = ()
        self.failed: dict[bytes, str] = {}  # key -> the error of its latest failure record
        self.lacking: dict[str, int] = {}  # column -> records without it
        self.extra: dict[str, int] = {}  # column -> records that hold it
        self.reported = False

    def clear(self) -> None:
        self.keys.clear()
        self.results.clear()
        self.failed.clear()
        self.lacking.clear()
        self.extra.clear()

    def add_columns(self, header: Sequence[str], columns: Sequence[Sequence[Cell]]) -> None:
        """Add records given column by column (the caller kept only this function's)."""
        if ERROR_COLUMN in header:
            errors = columns[header.index(ERROR_COLUMN)]
            if any(errors):
                self._add_failures(header, columns, errors)
                kept = [i for i, error in enumerate(errors) if error == ""]
                columns = [[column[i] for i in kept] for column in columns]
                if not kept:
                    return
        spec = self.spec
        positions, foreign = self._positions(header)
        if all(p >= 0 and "" not in columns[p] for p in positions) and not any(
            any(cell != "" for cell in columns[i]) for i, _ in foreign
        ):  # the common case: every record holds exactly the key columns
            keys = record_keys([columns[p] for p in positions], len(columns[0]))
            if not spec.results:
                self.keys.update(keys)
                return
            listed = list(keys)
            self.keys.update(listed)
            self._add_results(header, columns, listed)
            return
        for number, row in enumerate(zip(*columns, strict=True)):
            key = self._row_key(row, positions, foreign, count=True)
            if key is not None:
                self.keys.add(key)
                if spec.results:
                    self._add_results(header, [[c[number]] for c in columns], [key])

    def _positions(self, header: Sequence[str]) -> tuple[list[int], list[tuple[int, str]]]:
        """Where the key columns are, and which columns are another key's (foreign)."""
        spec = self.spec
        positions = [header.index(c) if c in header else -1 for c in spec.columns]
        foreign = [
            (i, c)
            for i, c in enumerate(header)
            if not c.startswith(RESERVED_PREFIX)
            and c not in spec.columns
            and not is_result_column(c)
        ]
        return positions, foreign

    def _add_results(
        self, header: Sequence[str], columns: Sequence[Sequence[Cell]], keys: list[bytes]
    ) -> None:
        found = [  # a run's output directory is kept beside its results: files are in it
            (c, columns[i])
            for i, c in enumerate(header)
            if (is_result_column(c) or c == OUTPUT_COLUMN) and c not in self.spec.columns
        ]
        if not found:
            return  # records without results (from before results=True): a skip gives None
        names = self.learn_results([c for c, _ in found])
        if names == self.result_columns:  # the common case: every result column, in order
            rows = zip(*(cells for _, cells in found), strict=True)
            self.results.update(zip(keys, rows, strict=True))
            return
        where = [names.index(c) if c in names else -1 for c in self.result_columns]
        for number, key in enumerate(keys):
            self.results[key] = tuple("" if i < 0 else found[i][1][number] for i in where)

    def learn_results(self, names: Sequence[str]) -> tuple[str, ...]:
        """Add the result columns not seen before (after the others); ``names`` as a tuple."""
        new = [c for c in names if c not in self.result_columns]
        if new:
            self.result_columns += tuple(new)
        return tuple(names)

    def result_cells(self, key: bytes) -> dict[str, Cell] | None:
        """The result cells of a completed run (None: not done, or nothing kept)."""
        cells = self.results.get(key)
        if cells is None:
            return None
        named = zip(self.result_columns, cells, strict=False)  # older runs: fewer columns
        return {c: v for c, v in named if v != ""}

    def _add_failures(
        self, header: Sequence[str], columns: Sequence[Sequence[Cell]], errors: Sequence[Cell]
    ) -> None:
        positions, foreign = self._positions(header)
        for row, error in zip(zip(*columns, strict=True), errors, strict=True):
            if error != "":
                key = self._row_key(row, positions, foreign, count=False)
                if key is not None:
                    self.failed[key] = str(error)

    def _row_key(
        self,
        row: Sequence[Cell],
        positions: list[int],
        foreign: list[tuple[int, str]],
        count: bool,
    ) -> bytes | None:
        """A record's key, or None when no call of the function matches it.

        With ``count``, the columns it lacks or holds beyond the key are counted for
        :meth:`layout_changes`.
        """
        spec = self.spec
        for i, column in foreign:
            if row[i] != "":
                if count:
                    self.extra[column] = self.extra.get(column, 0) + 1
                return None
        parts = []
        for position, column, default in zip(
            positions, spec.columns, spec.default_keys, strict=True
        ):
            cell = row[position] if position >= 0 else ""
            if cell != "":
                parts.append(key_of_cell(cell))
                continue
            if count:
                self.lacking[column] = self.lacking.get(column, 0) + 1
            if default is None:
                return None
            parts.append(default)
        return b"".join(parts)

    def layout_changes(self) -> tuple[dict[str, int], list[tuple[str, int, str | None]]]:
        """The key changes between the records and the function, once: the columns
        records hold beyond the key (column -> records), and the key columns they lack
        (column, records, its default's text or None)."""
        if self.reported:
            return {}, []
        self.reported = True
        spec = self.spec
        lacking = [
            (column, count, spec.default_texts[spec.columns.index(column)])
            for column, count in self.lacking.items()
        ]
        return dict(self.extra), lacking


def add_records(
    indexes: dict[str, FunctionIndex],
    owner: str | None,
    header: Sequence[str],
    columns: Sequence[Sequence[Cell]],
) -> None:
    """Add records given column by column to the index of the function each belongs to
    (rows without a ``_stet_function`` cell: the owner's)."""
    if FUNCTION_COLUMN not in header:
        owned = indexes.get(owner) if owner else None
        if owned is not None:
            owned.add_columns(header, columns)
        return
    labels = columns[header.index(FUNCTION_COLUMN)]
    count = len(labels)
    for function in set(labels):
        index = indexes.get(str(function) or owner or "")
        if index is None:
            continue
        if labels.count(function) == count:
            index.add_columns(header, columns)
        else:
            keep = [i for i, label in enumerate(labels) if label == function]
            index.add_columns(header, [[column[i] for i in keep] for column in columns])
