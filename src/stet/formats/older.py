"""Transitional: a format class still written to stet's older format protocol
(``read_from``, ``end_if_same``, ``add_columns``, one record per ``append``), seen
through :class:`~stet.formats.base.StoreFormat`. Once every registered format derives
from ``StoreFormat`` (PostgreSQL is the last), this module goes.
"""

from __future__ import annotations

from .base import ColumnRules, Generation, StoreFormat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .._values import Cell
    from .base import Chunk, Site

__all__ = ["OlderFormat"]

_BYTES_PER_ROW = 64  # what the older protocol's byte limit took a row to be


class OlderFormat(StoreFormat, ColumnRules):
    """The new interface over an object of the older protocol."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.site: Site = inner.site
        self._known: list[str] | None = None  # the columns last read or made room for

    @property
    def name(self) -> str:
        return str(self._inner.name)

    @name.setter
    def name(self, name: str) -> None:
        self._inner.name = name

    def generation(self) -> Generation | None:
        if self._known is None:  # not read yet: only whether there is a store
            return Generation(0, False) if self._inner.exists() else None
        end = self._inner.end_if_same()
        if end is not None:
            return Generation(int(end), True)
        return Generation(0, False) if self._inner.exists() else None

    def read(
        self,
        cursor: int,
        header: Sequence[str],
        max_rows: int | None = None,
        first_line: int = 1,
    ) -> Chunk:
        limit = None if max_rows is None else max_rows * _BYTES_PER_ROW
        chunk: Chunk = self._inner.read_from(cursor, header, first_line, limit)
        self._known = chunk.header
        return chunk

    def append(
        self, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, fsync: bool
    ) -> int | None:
        if list(header) != self._known:
            if not self._inner.add_columns(header):
                return None
            self._known = list(header)
        end = 0
        for row in rows:
            values = dict(zip(header, row, strict=True))
            end = self._inner.append(header, values, fsync=fsync)
        return end

    def rewrite(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        self._inner.rewrite(header, rows)
        self._known = list(header)

    def settle(self) -> None:
        self._inner.settle()

    def close(self) -> None:
        self._inner.close()

    def column_problem(self, header: Sequence[str], new: Sequence[str]) -> tuple[str, str] | None:
        rule = getattr(self._inner, "column_problem", None)
        if rule is None:
            return None
        problem: tuple[str, str] | None = rule(header, new)
        return problem
