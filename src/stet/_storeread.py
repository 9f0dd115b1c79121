"""Reading a store into the functions' indexes: ``StoreReader``, the half of the
``Store`` that reads.

It opens the store's format, reads every record on open (a batch at a time), picks up
what other writers appended since (from the last cursor), reads the whole store again
after another process rewrote it, and deals with a torn last record under the lock.
Writing, claiming and the whole-store operations are the ``Store``'s (``_store``).
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time

from . import _report
from ._columns import LOOK_EVERY, TIMESTAMP_COLUMN, is_time
from ._errors import no_store
from ._index import add_records
from ._lock import StoreLock
from ._runclaims import RunClaims
from ._snapshot import Snapshot, header_problem
from .formats import open_format, redacted
from .formats.base import TornTails
from .formats.filesite import ThreadSafeLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._index import FunctionIndex
    from .formats.base import Chunk, SiteLock

__all__ = ["StoreReader", "if_permitted"]

_READ_ROWS = 1 << 16  # open a store this many records at a time: a small peak of memory


class StoreReader:
    """The reading half of a ``Store``: its format, its indexes, and what it has read."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self._file = open_format(path, name)
        self._site = self._file.site
        self._lock = self._site.lock
        self._mutex = threading.RLock()
        self._header: list[str] = []
        self._cursor = 0
        self._next_line = 1
        self._row_count = 0
        self._owner: str | None = None
        self._assumed_owner: str | None = None  # taken in memory: a store it may only read
        self._indexes: dict[str, FunctionIndex] = {}
        self._loaded = False
        self._settle_at_exit = False
        self.look_after = 0.0  # time.monotonic() past which a skip looks at the store first
        self._writable = False  # known to be writable by this process
        self._noted: set[tuple[str, str, str | None]] = set()  # versions in the history
        self.claims = RunClaims(self._site, lambda: self._mutex)  # the claims of its runs

    @property
    def name(self) -> str:
        """The store's path as the user gave it, for messages."""
        return self._file.name

    @name.setter
    def name(self, name: str) -> None:
        self._file.name = redacted(name)

    # -- reading

    def refresh(self) -> None:
        """Pick up what other processes appended, or rewrote, since the last read."""
        with self._mutex:
            self._refresh()
            self.look_after = time.monotonic() + LOOK_EVERY

    def look(self) -> None:
        """Before a skip: catch up with the store when ``LOOK_EVERY`` has passed, so a
        reset or rewrite by another process is seen within that time, not never."""
        if time.monotonic() >= self.look_after:
            self.refresh()

    def _refresh(self) -> None:
        look = self._file.generation() if self._loaded else None
        if look is None or not look.same:
            self._reload()
            return
        if look.end == self._cursor:
            return  # nothing new: one stat, no read
        chunk = self._file.read(self._cursor, self._header, None, self._next_line)
        self._take(chunk)
        if chunk.tail:
            self._mend_tail()

    def _reload(self) -> None:
        """Read the whole store again: after a rewrite, on open, or for a new function."""
        self._loaded = True
        self._noted.clear()  # a reset may have removed the history: look again
        for index in self._indexes.values():
            index.clear()
        self._file.close()
        self._header, self._cursor, self._next_line, self._row_count = [], 0, 1, 0
        self._owner = self._read_owner() or self._assumed_owner
        collecting = gc.isenabled()
        gc.disable()  # a million small lists would set off the collector again and again
        try:
            while True:  # a batch of records at a time, until no whole record is left
                start = self._cursor
                chunk = self._file.read(start, self._header, _READ_ROWS, self._next_line)
                self._take(chunk)
                if chunk.end == start:
                    break
        finally:
            if collecting:
                gc.enable()
        if chunk.tail:
            self._mend_tail()

    def _check_header(self, header: list[str]) -> None:
        self._loaded = False  # read again next time: the error stands until it is repaired
        problem = header_problem(header, self.name)
        if problem is not None:
            raise problem
        self._loaded = True

    def _take(self, chunk: Chunk) -> None:
        """Add the records of a chunk to the index of the function each belongs to."""
        if chunk.header != self._header:
            self._check_header(chunk.header)
            self._header = chunk.header
        self._cursor = chunk.end
        count = chunk.count
        if not count:
            return
        if self._owner is None:  # written before the first record: it may exist by now
            self._owner = self._read_owner() or self._assumed_owner
        self._next_line = chunk.first_line + count
        self._row_count += count
        if self._indexes:
            add_records(self._indexes, self._owner, chunk.header, chunk.columns)

    def _mend_tail(self) -> None:
        """Deal with an incomplete last record: one still being written, or torn.

        A process that may only read the store leaves it as it is, and out of the index.
        """
        # a writer holding the lock may still be writing that record
        with if_permitted(self._lock) as held:
            chunk = self._file.read(self._cursor, self._header, None, self._next_line)
            self._take(chunk)
            if not chunk.tail or not held or not isinstance(self._file, TornTails):
                return
            whole = self._file.finish_tail(chunk, _is_whole)
            if whole is not None:  # a whole record missing its ending, now ended
                self._take(whole)
                return
            where = self._file.set_aside_tail(chunk)
            _report.torn_line_set_aside(self.name, where)

    def snapshot(self) -> Snapshot:
        """Every record, read fresh (for status, reset and reports)."""
        reader = open_format(self.path, self.name)
        try:
            if reader.generation() is None:
                raise no_store("No stet store at this path yet", self.name)
            chunk = reader.read(0, [])
        finally:
            reader.close()
        problem = header_problem(chunk.header, self.name)
        if problem is not None:
            raise problem
        return Snapshot(chunk.header, None, self._read_owner(), chunk.columns, chunk.first_line)

    # -- the owner file

    def _read_owner(self) -> str | None:
        return self._site.read_owner()

    def _write_owner(self, function: str) -> None:
        self._site.write_owner(function)
        self._owner = function


def _is_whole(record: Chunk) -> bool:
    """Whether a record read from a torn tail is whole: it has its timestamp (the last
    cell written), and that is a time."""
    if TIMESTAMP_COLUMN not in record.header:
        return False
    stamp = record.columns[record.header.index(TIMESTAMP_COLUMN)][0]
    return isinstance(stamp, str) and is_time(stamp)


@contextlib.contextmanager
def if_permitted(lock: SiteLock) -> Iterator[bool]:
    """A store's lock, if this process may take it (True): a file store's lock file may
    be one it cannot open for writing (see ``StoreLock.if_permitted``)."""
    if isinstance(lock, StoreLock | ThreadSafeLock):
        with lock.if_permitted() as held:
            yield held
    else:
        with lock:
            yield True
