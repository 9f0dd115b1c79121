"""The ``Store``: in-memory index, locking, and what other writers appended.

One ``Store`` per store location per process, shared by every function that uses it.
A skip is a set lookup; the file is read only on open, before a call that is about to
run (from the last offset, to see what other processes appended), and under the lock
before a record is appended.

The Store speaks to its file through a format (``stet.formats``), chosen by the path's
extension; the format only moves rows of cells. The layout it keeps is ``_columns``'s.
Reading the file into the indexes is ``StoreReader``'s (``_storeread``); the Store adds
claiming, recording and the whole-store operations (clear, remove, export, fill).
"""

from __future__ import annotations

import contextlib
import threading

from . import _report
from ._columns import ERROR_COLUMN, FUNCTION_COLUMN, TIMESTAMP_COLUMN, now_text, widened
from ._errors import no_store, store_exists
from ._exit import at_exit
from ._files import is_denied
from ._index import FunctionIndex
from ._snapshot import StoreCopy, typed_rows
from ._storeread import StoreReader, if_permitted
from .formats import open_format
from .formats.base import ColumnRules, StoreConnectionError
from .formats.filesite import FileSite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ._claims import Claim
    from ._index import KeySpec
    from ._provenance import History, Source
    from ._values import Cell

__all__ = ["Store"]


class Store(StoreReader):
    """One store location, shared by every function in this process that uses it."""

    def __repr__(self) -> str:
        return f"Store({self.name!r})"

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
                with if_permitted(self._lock) as held:  # a store it may only read: as it is
                    self._reload()
                    if self._owner is None:
                        if held:
                            self._write_owner(spec.function)
                        else:  # written by nobody: this process takes them as the function's
                            self._assumed_owner = spec.function
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
        with self._mutex, if_permitted(self._lock):  # a store this process may only read
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

    def after_fork(self) -> None:
        """In a forked child: forget the parent's locks, claims and reads."""
        self._mutex = threading.RLock()  # another thread may have held it at the fork
        self.claims.after_fork()
        self._site.after_fork()
        self._loaded = False  # the fork may have split a record from its index entry
