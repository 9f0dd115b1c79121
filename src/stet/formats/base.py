"""What every store format provides: moving rows of cells to and from its storage.

A format knows nothing of identity, matching or locking: the ``Store`` calls it under
its lock and decides what the rows mean. Rows are given column by column; a cell is a
number or text, and ``""`` means the record has no value in that column.

A format reads from a *cursor*, an ``int`` it chooses (a byte offset, a row id), where
``0`` means the very beginning. A read returns the cursor to continue from.
"""

from __future__ import annotations

from .._errors import DamagedStoreError, StoreConnectionError, StoreNotWritableError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType
    from typing import Protocol

    from .._claims import ClaimBook
    from .._provenance import History
    from .._values import Cell

__all__ = [
    "Chunk",
    "DamagedStoreError",
    "Site",
    "StoreConnectionError",
    "StoreFormat",
    "StoreNotWritableError",
    "WholeRecords",
]


class Chunk:
    """What a read from a cursor found: complete records, column by column."""

    __slots__ = ("columns", "count", "end", "first_line", "header", "tail")

    def __init__(
        self,
        header: list[str],  # every column known once this chunk is read
        columns: list[list[Cell]] | None = None,  # one list of cells per header column
        count: int = 0,  # how many records
        end: int = 0,  # the cursor just past the last complete record
        tail: bytes = b"",  # bytes after the last complete record: torn or still being written
        first_line: int = 1,  # number (1-based) of the first record's line, for messages
    ) -> None:
        self.header = header
        self.columns = columns if columns is not None else [[] for _ in header]
        self.count = count
        self.end = end
        self.tail = tail
        self.first_line = first_line

    @property
    def rows(self) -> list[list[Cell]]:
        return [list(row) for row in zip(*self.columns, strict=True)]


class WholeRecords:
    """For formats whose every record is committed whole (databases): no torn tail."""

    def parse_tail(self, chunk: Chunk) -> Chunk | None:
        return None

    def finish_tail(self, chunk: Chunk) -> None:
        pass

    def cut(self, cursor: int) -> None:
        pass


if TYPE_CHECKING:

    class SiteLock(Protocol):
        """A reentrant cross-process lock: ``with site.lock: ...``."""

        def __enter__(self) -> None: ...

        def __exit__(
            self,
            kind: type[BaseException] | None,
            error: BaseException | None,
            traceback: TracebackType | None,
        ) -> None: ...

        def after_fork(self) -> None:
            """In a forked child: forget the parent's lock."""

    class Site(Protocol):
        """What a store has beside its rows: its lock, owner, claims, torn tails."""

        lock: SiteLock
        claims: ClaimBook

        def prepare(self) -> None:
            """Make what must exist before a first write (a file store's directory)."""

        def read_owner(self) -> str | None:
            """The function that owns the store's unlabelled records, if one was named."""

        def write_owner(self, function: str) -> None: ...

        def remove_owner(self) -> None:
            """Forget the owner and every function's code history (a store emptied)."""

        def read_history(self) -> History:
            """Each function's code history (see ``stet._provenance``); {} if none."""

        def write_history(self, history: History) -> None:
            """Replace the code history (under the lock)."""

        def set_aside(self, tail: bytes) -> str:
            """Keep a torn last record somewhere safe; returns where, for the message."""

        def tidy(self) -> None:
            """At exit: remove what only running calls need."""

        def after_fork(self) -> None:
            """In a forked child: forget the parent's locks and connections."""

    class StoreFormat(Protocol):
        """One store location in one format; every method but reads runs under the lock.

        A format whose storage cannot hold every column name may also provide
        ``column_problem(header, new) -> (column, why) | None``: the first of the ``new``
        columns it cannot hold beside ``header``'s, which the Store asks before a run.
        """

        name: str  # how messages name the store
        site: Site

        def __init__(self, path: str, name: str) -> None:
            """Nothing is read or created until the first call."""

        def exists(self) -> bool:
            """Whether the store holds anything yet."""

        def end_if_same(self) -> int | None:
            """The cursor at the end of the store, or None when it was replaced or removed
            since the last read (one cheap check: a stat, one small query)."""

        def read_from(
            self, cursor: int, header: Sequence[str], first_line: int, limit: int | None = None
        ) -> Chunk:
            """The complete records after ``cursor``; ``header`` is what earlier reads found.

            With ``limit``, read about that many bytes; call again from ``end`` for more.
            """

        def append(self, header: Sequence[str], values: dict[str, Cell], *, fsync: bool) -> int:
            """Append one record (its columns are in ``header``); returns the new end."""

        def add_columns(self, header: Sequence[str]) -> bool:
            """Make room for ``header``'s new columns; False when only a rewrite can."""

        def rewrite(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
            """Replace the whole store with these rows, atomically."""

        def parse_tail(self, chunk: Chunk) -> Chunk | None:
            """The one record in ``chunk.tail``, when it is whole but lacks its ending."""

        def finish_tail(self, chunk: Chunk) -> None:
            """Write the ending of the record ``parse_tail`` found."""

        def cut(self, cursor: int) -> None:
            """Drop everything after ``cursor`` (a torn tail, already set aside)."""

        def settle(self) -> None:
            """Finish deferred work before the process exits (under the lock)."""

        def close(self) -> None:
            """Let go of open files; the next read opens them again."""
