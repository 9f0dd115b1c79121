"""The seam between the ``Store`` and a store format: what a format author implements.

A format moves rows of cells to and from its storage, and nothing else: it knows no
identity, matching, value rule or lease. The ``Store`` calls it under the store's lock
(reads too may run without it) and decides what the rows mean. A cell is a number or
text, and ``""`` means the record has no value in that column.

A format reads from a *cursor*, an ``int`` it chooses (a byte offset, a row id), where
``0`` means the very beginning; each read returns the cursor to continue from.

:class:`StoreFormat` is the whole interface (eight members). Two optional capabilities
are separate small ABCs a format may also derive from:

* :class:`TornTails`: for formats whose last record can be torn by a killed writer (the
  line files); they repair their own tail under the lock.
* :class:`ColumnRules`: for formats whose storage cannot hold every column name.

What a store has beside its rows (its lock, owner, code history and claims) is its
:class:`Site`; file formats share ``FileSite`` (``stet.formats.filesite``).
"""

from __future__ import annotations

import abc
from typing import NamedTuple

from .._errors import DamagedStoreError, StoreConnectionError, StoreNotWritableError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType
    from typing import Protocol

    from .._claims import ClaimBook
    from .._provenance import History
    from .._values import Cell

__all__ = [
    "Chunk",
    "ColumnRules",
    "DamagedStoreError",
    "Generation",
    "Site",
    "StoreConnectionError",
    "StoreFormat",
    "StoreNotWritableError",
    "TornTails",
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


class Generation(NamedTuple):
    """What one cheap look at a store found (see :meth:`StoreFormat.generation`)."""

    end: int  # the cursor past the last whole record, when ``same``
    same: bool  # False: rewritten or replaced since this object's last read from 0


class StoreFormat(abc.ABC):
    """One store location in one format: the eight members a format implements.

    A format class is constructed as ``cls(location, name)`` (a path, or a URL for a
    server's formats); it reads or creates nothing until its first call, and sets its
    ``site`` there. Every write runs under ``site.lock``.
    """

    name: str  # how messages name the store (the Store may change it)
    site: Site  # its lock, owner, history and claims

    def __init__(self, location: str, name: str) -> None:
        """A format for the store at ``location``; it reads and creates nothing yet."""
        self.name = name

    @abc.abstractmethod
    def generation(self) -> Generation | None:
        """One cheap look (a stat, one small query): None when nothing is stored yet;
        else where the store ends now and whether it is still the one this object last
        read from 0 (when not, the Store reads it again from 0)."""

    @abc.abstractmethod
    def read(
        self,
        cursor: int,
        header: Sequence[str],
        max_rows: int | None = None,
        first_line: int = 1,
    ) -> Chunk:
        """The complete records after ``cursor``; ``header`` is what earlier reads found.

        With ``max_rows``, about that many records (at least one when there are any):
        call again from the chunk's ``end`` for more. ``first_line`` is the number the
        first record gets in messages.
        """

    @abc.abstractmethod
    def append(
        self, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, fsync: bool
    ) -> int | None:
        """Append ``rows`` (cells in ``header`` order); returns the new end cursor.

        ``header`` is every column the store has, with any new ones; when the format
        cannot add those in place it writes nothing and returns None, and the Store
        rewrites the store instead. ``append(header, [])`` only makes room.
        With ``fsync``, the rows are on disk when it returns.
        """

    @abc.abstractmethod
    def rewrite(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        """Replace the whole store with these rows, atomically (it may not exist yet)."""

    def settle(self) -> None:  # noqa: B027  (optional: most formats defer nothing)
        """Finish deferred work before the process exits (under the lock)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of open files and connections; the next read opens them again."""


class TornTails(abc.ABC):
    """A capability: a format whose last record a killed writer can tear (line files).

    When a read leaves bytes after the last whole record (``chunk.tail``) and the Store
    holds the lock (so no writer is still writing them), it asks the format to mend
    its tail: finish it, or else set it aside.
    """

    @abc.abstractmethod
    def finish_tail(self, chunk: Chunk, whole: Callable[[Chunk], bool]) -> Chunk | None:
        """When ``chunk.tail`` is one record lacking only its ending, and ``whole`` (the
        Store's judgement) accepts it: write its ending and return it, placed after
        ``chunk``. Else None, having changed nothing."""

    @abc.abstractmethod
    def set_aside_tail(self, chunk: Chunk) -> str:
        """Keep ``chunk.tail`` somewhere safe and cut the store at ``chunk.end``;
        returns where it was kept, for the message."""


class ColumnRules(abc.ABC):
    """A capability: a format whose storage cannot hold every column name."""

    @abc.abstractmethod
    def column_problem(self, header: Sequence[str], new: Sequence[str]) -> tuple[str, str] | None:
        """The first of the ``new`` columns it cannot hold beside ``header``'s, and why;
        the Store asks before a run."""


class Site(abc.ABC):
    """What a store has beside its rows: its lock, owner, code history and claims.

    Formats share these: every file format uses ``FileSite``.
    """

    lock: SiteLock
    claims: ClaimBook

    @abc.abstractmethod
    def prepare(self) -> None:
        """Make what must exist before a first write (a file store's directory)."""

    @abc.abstractmethod
    def read_owner(self) -> str | None:
        """The function that owns the store's unlabelled records, if one was named."""

    @abc.abstractmethod
    def write_owner(self, function: str) -> None: ...

    @abc.abstractmethod
    def remove_owner(self) -> None:
        """Forget the owner and every function's code history (a store emptied)."""

    @abc.abstractmethod
    def read_history(self) -> History:
        """Each function's code history (see ``stet._provenance``); {} if none."""

    @abc.abstractmethod
    def write_history(self, history: History) -> None:
        """Replace the code history (under the lock)."""

    @abc.abstractmethod
    def tidy(self) -> None:
        """At exit: remove what only running calls need."""

    @abc.abstractmethod
    def after_fork(self) -> None:
        """In a forked child: forget the parent's locks and connections."""


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
