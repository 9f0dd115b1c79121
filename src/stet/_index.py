"""The index of one function's runs in a store: what identifies them, and which are done."""

from __future__ import annotations

from ._columns import ERROR_COLUMN, RESERVED_PREFIX
from ._results import is_result_column
from ._values import cell_key, record_keys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._values import Cell

__all__ = ["FunctionIndex", "KeySpec"]


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
            keys = record_keys([columns[p] for p in positions])
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
        found = [
            (c, columns[i])
            for i, c in enumerate(header)
            if is_result_column(c) and c not in self.spec.columns
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
        :meth:`layout_messages`.
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
                parts.append(cell_key(cell))
                continue
            if count:
                self.lacking[column] = self.lacking.get(column, 0) + 1
            if default is None:
                return None
            parts.append(default)
        return b"".join(parts)

    def layout_messages(self) -> list[str]:
        """One line per key change between the records and the function, once."""
        if self.reported:
            return []
        self.reported = True
        spec = self.spec
        messages = []
        for column, count in self.extra.items():
            messages.append(
                f"{spec.function}: {_records(count, 'holds', 'hold')} {column}, which is no "
                f"longer in its key; {_they(count)} not count as done (put {column} back in "
                f"the key, or remove {_them(count)} with stet.reset)"
            )
        for column, count in self.lacking.items():
            default = spec.default_texts[spec.columns.index(column)]
            if default is None:
                treatment = f"no call matches {_them(count)}, as {column} has no default"
            else:
                counted = "it counts as a run" if count == 1 else "they count as runs"
                treatment = f"{counted} with {column}={default}, its default"
            messages.append(
                f"{spec.function}: {_records(count, 'lacks', 'lack')} {column}, now in its key; "
                + treatment
            )
        return messages


def _records(count: int, singular: str, plural: str) -> str:
    return f"1 earlier record {singular}" if count == 1 else f"{count:,} earlier records {plural}"


def _they(count: int) -> str:
    return "it does" if count == 1 else "they do"


def _them(count: int) -> str:
    return "it" if count == 1 else "them"
