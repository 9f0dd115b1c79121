"""The ``Store``: in-memory index, locking, and what other writers appended.

One ``Store`` per store location per process, shared by every function that uses it.
A skip is a set lookup; the file is read only on open, before a call that is about to
run (from the last offset, to see what other processes appended), and under the lock
before a record is appended.

The Store speaks to its file through a format (``stet.formats``), chosen by the path's
extension; the format only moves rows of cells. The layout it keeps is ``_columns``'s.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time

from . import _report
from ._columns import (
    ERROR_COLUMN,
    FUNCTION_COLUMN,
    LOOK_EVERY,
    TIMESTAMP_COLUMN,
    now_text,
    widened,
)
from ._errors import no_store, store_exists
from ._exit import at_exit
from ._files import is_denied
from ._index import FunctionIndex, add_records
from ._lock import StoreLock
from ._runclaims import RunClaims
from ._snapshot import Snapshot, StoreCopy, header_problem, is_time, typed_rows
from .formats import open_format, redacted
from .formats.base import Chunk, ColumnRules, StoreConnectionError, TornTails
from .formats.filesite import FileSite, ThreadSafeLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ._claims import Claim
    from ._index import KeySpec
    from ._provenance import History, Source
    from ._values import Cell
    from .formats.base import SiteLock

__all__ = ["Store"]

_READ_ROWS = 1 << 16  # open a store this many records at a time: a small peak of memory


class Store:
    """One store location, shared by every function in this process that uses it."""

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
        self._indexes: dict[str, FunctionIndex] = {}
        self._loaded = False
        self._settle_at_exit = False
        self.look_after = 0.0  # time.monotonic() past which a skip looks at the store first
        self._writable = False  # known to be writable by this process
        self._noted: set[tuple[str, str, str | None]] = set()  # versions in the history
        self.claims = RunClaims(self._site, lambda: self._mutex)  # the claims of its runs

    def __repr__(self) -> str:
        return f"Store({self.name!r})"

    @property
    def name(self) -> str:
        """The store's path as the user gave it, for messages."""
        return self._file.name

    @name.setter
    def name(self, name: str) -> None:
        self._file.name = redacted(name)

    # -- binding a function

    def index_for(self, spec: KeySpec) -> FunctionIndex:
        """The index of one function's runs, built from the file on first use."""
        with self._mutex:
            index = self._indexes.get(spec.function)
            if index is not None and index.spec == spec:
                return index
            index = FunctionIndex(spec)
            self._indexes[spec.function] = index
            try:
                self._site.prepare()
            except OSError as error:  # a directory this user may not make: nothing to
                if not is_denied(error):  # read, and a call that runs is refused first
                    raise
            self._reload()
            if self._owner is None and self._row_count and FUNCTION_COLUMN not in self._header:
                with _if_permitted(self._lock) as held:  # a store it may only read: as it is
                    self._reload()
                    if self._owner is None and held:
                        self._write_owner(spec.function)
                        _report.owner_assumed(self.name, spec.function)
                        self._reload()
            _report.key_columns_changed(spec.function, *index.layout_changes())
            return index

    def check_columns(self, spec: KeySpec) -> None:
        """Refuse, before a run, key columns this store's format cannot hold beside the
        columns it has (``A`` beside ``a`` in SQLite, a name over 63 bytes in PostgreSQL).
        """
        header = self._header
        new = [c for c in spec.columns if c not in header]
        rules = self._file if new and isinstance(self._file, ColumnRules) else None
        problem = None if rules is None else rules.column_problem(header, new)
        if problem is not None:
            column, why = problem
            raise ValueError(
                f"{spec.function}(): parameter {column!r} cannot be a column of the store "
                f"{self.name}: {why}. Rename the parameter, leave it out of the key with "
                f"@stet.once(ignore=[{column!r}]), or use a store of another format "
                "(such as .csv)"
            )

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
        self._owner = self._read_owner()
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
            self._owner = self._read_owner()
        self._next_line = chunk.first_line + count
        self._row_count += count
        if self._indexes:
            add_records(self._indexes, self._owner, chunk.header, chunk.columns)

    def _mend_tail(self) -> None:
        """Deal with an incomplete last record: one still being written, or torn.

        A process that may only read the store leaves it as it is, and out of the index.
        """
        # a writer holding the lock may still be writing that record
        with _if_permitted(self._lock) as held:
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

    # -- writing

    def claim(
        self,
        index: FunctionIndex,
        key: bytes,
        call: str | Callable[[], str],
        lease: float,
        every: float,
    ) -> tuple[Claim | None, Claim | None]:
        """Claim a run that is about to run, for this worker.

        Returns ``(ours, None)`` when this worker may run it, ``(None, holder)`` when
        another worker's live claim holds it, and ``(None, None)`` when it completed
        meanwhile. Ours is renewed every ``every`` seconds until it is recorded or
        released.
        """
        with self._mutex:
            mine, holder = self.claims.take(index.spec.function, key, call, lease)
            if mine is None:
                return None, holder
            try:
                self._refresh()  # claimed first, then checked: a record lands before its release
            except BaseException:
                with contextlib.suppress(Exception):  # the refresh's error is what propagates
                    self.claims.let_go(mine)
                raise
            if key in index.keys:
                self.claims.let_go(mine)
                return None, None
        self.claims.watch(mine, every, self.name)
        return mine, None

    def record(
        self,
        index: FunctionIndex,
        key: bytes,
        cells: dict[str, Cell],
        fsync: bool,
        claim: Claim | None = None,
        error: str | None = None,
        *,
        source: Source | None = None,
    ) -> bool:
        """Append one completed run (or, with ``error``, one failure of it); False when
        the run is in the store already (another writer recorded it first).

        ``cells`` are the key cells, then any result cells. The run's claim, if any, is
        released once its record is in the store. ``source`` is the version of the
        function that ran it, noted in the code history on its first record.
        """
        with self._mutex:
            try:
                with self._lock:
                    try:
                        return self._append(index, key, cells, fsync, error, source)
                    finally:
                        if claim is not None:
                            self.claims.let_go(claim)
            finally:  # the lock could not be taken: the claim lapses with its lease
                if claim is not None:
                    self.claims.forget(claim)

    def _append(
        self,
        index: FunctionIndex,
        key: bytes,
        cells: dict[str, Cell],
        fsync: bool,
        error: str | None,
        source: Source | None = None,
    ) -> bool:
        """Append one record under the lock, unless the run is in the store already."""
        spec = index.spec
        self._refresh()
        if key in index.keys:
            return False
        if not self._row_count:
            self._start(spec)
        self._widen(spec, cells, error is not None)
        if key in index.keys:  # a rewrite while widening read the store afresh
            return False
        if source is not None and (spec.function, source.code, source.file) not in self._noted:
            self._note(spec.function, source)
        header = self._header
        values = {**cells, TIMESTAMP_COLUMN: now_text()}
        if FUNCTION_COLUMN in header:
            values[FUNCTION_COLUMN] = spec.function
        if error is not None:
            values[ERROR_COLUMN] = error
        end = self._file.append(header, [[values.get(c, "") for c in header]], fsync=fsync)
        assert end is not None, "the format took these columns when the store widened"
        self._cursor = end
        if not self._settle_at_exit:
            self._settle_at_exit = True
            at_exit(self.settle)
        self._next_line += 1
        self._row_count += 1
        if error is not None:
            index.failed[key] = error
            return True
        index.keys.add(key)
        if spec.results:
            index.learn_results([c for c in cells if c not in spec.columns])
            index.results[key] = tuple(cells.get(c, "") for c in index.result_columns)
        return True

    def _note(self, function: str, source: Source) -> None:
        """Add this version to the function's code history, unless it is the latest."""
        history = self._site.read_history()
        entries = history.get(function)
        if not isinstance(entries, list):
            entries = history[function] = []
        if not entries or not source.matches(entries[-1]):
            entries.append(source.entry(now_text()))  # before the record's own timestamp
            self._site.write_history(history)
        self._noted.add((function, source.code, source.file))

    def history(self) -> History:
        """Each function's code history, read fresh (nothing is created)."""
        return self._site.read_history()

    def _start(self, spec: KeySpec) -> None:
        """An empty store takes the layout of the first function that records into it."""
        self._write_owner(spec.function)
        self._file.rewrite([*spec.columns, TIMESTAMP_COLUMN], [])
        self._reload()

    def _widen(self, spec: KeySpec, cells: dict[str, Cell], failure: bool) -> None:
        """Add the columns a new function, a new key parameter, a new result column or
        a first failure needs."""
        header = self._header
        missing = [c for c in cells if c not in header]
        label = spec.function != self._owner and FUNCTION_COLUMN not in header
        error = failure and ERROR_COLUMN not in header
        if not missing and not label and not error and TIMESTAMP_COLUMN in header:
            return
        new_header = widened(header, missing, label, failure)
        if self._file.append(new_header, [], fsync=False) is not None:  # room made in place
            self._header = new_header
        else:
            self._rewrite(new_header, lambda row: True)

    def _rewrite(self, new_header: list[str], keep: Callable[[dict[str, Cell]], bool]) -> int:
        """Rewrite the store with ``new_header``, keeping the rows ``keep`` accepts."""
        kept, removed = self.snapshot().kept_rows(new_header, keep)
        self._file.rewrite(new_header, kept)
        self._reload()
        return removed

    def write_problem(self) -> str | None:
        """Why this process could not record into the store (a path it may not write),
        or None; checked before a call runs, until it is found writable."""
        if self._writable or not isinstance(self._site, FileSite):
            return None
        problem = self._site.write_problem()
        self._writable = problem is None
        return problem

    def clear(self, function: str | None = None) -> int | None:
        """Remove a file store and the files beside it (owner, lock, claims), as it was
        before its first record; returns how many records it held.

        With ``function``, only when every record is that function's. None when nothing
        was done: the store holds another function's runs, or it is on a server (its
        table stays; :meth:`remove` empties it). Another process that has the store open
        reads it afresh at its next call, and starts it anew.
        """
        if not isinstance(self._site, FileSite):
            return None
        site = self._site
        with self._mutex, self._lock:
            self._refresh()
            count = self._row_count
            if function is not None and count:
                snapshot = self.snapshot()
                if any(snapshot.function_of(row) != function for row in snapshot.rows):
                    return None
            self._file.close()
            site.clear()
            self._reload()
            return count

    def remove(self, keep: Callable[[dict[str, Cell]], bool]) -> int:
        """Remove every record ``keep`` rejects; returns how many were removed."""
        with self._mutex, self._lock:
            self._refresh()
            removed = self._rewrite(list(self._header), keep)
            if not self._row_count:
                self._site.remove_owner()
                self._reload()
            return removed

    def export(self) -> StoreCopy:
        """Every record, in the layout of a stet store and numbers as numbers, with the
        owner and code history: what :meth:`fill` makes a new store of.

        The store may be a CSV made without stet: its columns are then the key, and
        records without a ``_stet_timestamp`` get the time of the export.
        """
        with self._mutex, _if_permitted(self._lock):  # a store this process may only read
            if self._file.generation() is None:
                raise no_store("No store at this path", self.name)
            reader = open_format(self.path, self.name)
            try:
                header, rows = typed_rows(reader.read(0, []))
            finally:
                reader.close()
            return StoreCopy(header, rows, self._read_owner(), self._site.read_history())

    def fill(self, copy: StoreCopy) -> int:
        """Make this store, which does not exist yet, a copy; returns how many records.

        ``FileExistsError`` if it exists: stet never writes over a store.
        """
        self._site.prepare()
        with self._mutex, self._lock:
            if self._file.generation() is not None:
                raise store_exists(
                    f"{self.name} already exists; stet never writes over a store. Give a "
                    "new path, or remove that one first.",
                    self.name,
                    api="stet.convert",
                )
            if copy.owner is not None:
                self._write_owner(copy.owner)
            if copy.history:
                self._site.write_history(copy.history)
            self._file.rewrite(copy.header, copy.rows)
            self._loaded = False
        return len(copy.rows)

    def settle(self) -> None:
        """Let the format finish deferred work (Parquet compacts its journal); at exit."""
        # a server gone, or the store removed meanwhile (a temporary directory): nothing
        # to finish
        with contextlib.suppress(StoreConnectionError, FileNotFoundError):
            if self._file.generation() is None:
                return
            with self._mutex, self._lock:
                self._file.settle()

    # -- the owner file

    def _read_owner(self) -> str | None:
        return self._site.read_owner()

    def _write_owner(self, function: str) -> None:
        self._site.write_owner(function)
        self._owner = function

    def after_fork(self) -> None:
        """In a forked child: forget the parent's locks, claims and reads."""
        self._mutex = threading.RLock()  # another thread may have held it at the fork
        self.claims.after_fork()
        self._site.after_fork()
        self._loaded = False  # the fork may have split a record from its index entry


def _is_whole(record: Chunk) -> bool:
    """Whether a record read from a torn tail is whole: it has its timestamp (the last
    cell written), and that is a time."""
    if TIMESTAMP_COLUMN not in record.header:
        return False
    stamp = record.columns[record.header.index(TIMESTAMP_COLUMN)][0]
    return isinstance(stamp, str) and is_time(stamp)


@contextlib.contextmanager
def _if_permitted(lock: SiteLock) -> Iterator[bool]:
    """A store's lock, if this process may take it (True): a file store's lock file may
    be one it cannot open for writing (see ``StoreLock.if_permitted``)."""
    if isinstance(lock, StoreLock | ThreadSafeLock):
        with lock.if_permitted() as held:
            yield held
    else:
        with lock:
            yield True
