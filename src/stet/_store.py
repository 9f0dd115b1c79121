"""The ``Store``: in-memory index, locking, and what other writers appended.

One ``Store`` per store location per process, shared by every function that uses it.
A skip is a set lookup; the file is read only on open, before a call that is about to
run (from the last offset, to see what other processes appended), and under the lock
before a record is appended.

The Store speaks to its file through a format (``stet.formats``), chosen by the path's
extension; the format only moves rows of cells. Layout rules, shared by every function
of a store and every format:

* the columns are the key columns and result columns (``result``, ``result.<name>``:
  see ``_results``), then ``_stet_function`` (only once a second function records into
  the store), then ``_stet_error`` (only once a failure is recorded), then
  ``_stet_timestamp``;
* a record with an ``_stet_error`` cell is a failed run, not a completed one;
* an empty cell means "not part of this record's key" (``None`` is written ``None``);
* rows without a ``_stet_function`` cell belong to the store's *owner*, the first
  function that recorded into it, named in the small ``<store>.owner`` file beside it;
* each function's code history (``_provenance``) is kept beside the owner, not in a
  column: one entry per version that recorded, written once per version and process.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from datetime import datetime

from . import _report
from ._claims import Claim, Worker, heartbeat
from ._errors import (
    DamagedStoreError,
    StoreConnectionError,
    no_store,
    store_exists,
)
from ._exit import at_exit
from ._files import is_denied, store_path
from ._lock import StoreLock
from ._results import is_result_column, typed_result_cell
from ._values import cell_key, record_keys, typed_cell
from .formats import is_url, open_format, redacted
from .formats.base import Chunk
from .formats.filesite import FileSite, ThreadSafeLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from ._provenance import History, Source
    from ._values import Cell
    from .formats.base import SiteLock

__all__ = [
    "ERROR_COLUMN",
    "FUNCTION_COLUMN",
    "TIMESTAMP_COLUMN",
    "DamagedStoreError",
    "FunctionIndex",
    "KeySpec",
    "Snapshot",
    "Store",
    "completed_stamps",
    "get_store",
    "version_keys",
]

_READ_SIZE = 4 << 20  # open a store a few MiB at a time: a small peak of memory
# A skip trusts this process's index for at most this long before one cheap look (a stat,
# one small query) at whether another process rewrote, reset or removed the store.
LOOK_EVERY = 0.2  # seconds
FUNCTION_COLUMN = "_stet_function"
ERROR_COLUMN = "_stet_error"
TIMESTAMP_COLUMN = "_stet_timestamp"
RESERVED_PREFIX = "_stet_"


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

    def values_of(self, row: Sequence[Cell]) -> dict[str, Cell]:
        """A record as column -> cell, its function filled in (``_stet_function``)."""
        values = dict(zip(self.header, row, strict=True))
        values[FUNCTION_COLUMN] = self.function_of(row) or ""
        return values


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


_second = -1
_second_text = ""


def now_text() -> str:
    """The current time as ISO 8601 UTC with microseconds (``...T11:48:59.428485+00:00``).

    The same text as ``datetime.now(UTC).isoformat(timespec="microseconds")``, in a
    fifth of the time: the date and time of day are formatted once a second.
    """
    global _second, _second_text
    micros = time.time_ns() // 1000
    second, fraction = divmod(micros, 1_000_000)
    if second != _second:
        _second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = second
    return f"{_second_text}.{fraction:06d}+00:00"


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
        self._tidy_at_exit = False
        self.look_after = 0.0  # time.monotonic() past which a skip looks at the store first
        self._writable = False  # known to be writable by this process
        self._noted: set[tuple[str, str, str | None]] = set()  # versions in the history
        # The runs a thread or task of this process holds a claim on now, by (function,
        # key): the book sees one worker, this process, so this is where they differ.
        self._held_here: dict[tuple[str, bytes], Claim] = {}

    def __repr__(self) -> str:
        return f"Store({self.name!r})"

    @property
    def name(self) -> str:
        """The store's path as the user gave it, for messages."""
        return self._file.name

    @name.setter
    def name(self, name: str) -> None:
        self._file.name = redacted(name)

    def __reduce__(self) -> tuple[Callable[..., Store], tuple[str, str]]:
        return (_reopen, (self.path, self.name))

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
                        _report.line(
                            f"{self.name} does not say which function wrote it; "
                            f"its records are taken as runs of {spec.function}"
                        )
                        self._reload()
            _report.lines(index.layout_messages())
            return index

    def check_columns(self, spec: KeySpec) -> None:
        """Refuse, before a run, key columns this store's format cannot hold beside the
        columns it has (``A`` beside ``a`` in SQLite, a name over 63 bytes in PostgreSQL).
        """
        header = self._header
        new = [c for c in spec.columns if c not in header]
        rule = getattr(self._file, "column_problem", None) if new else None
        problem = None if rule is None else rule(header, new)
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
        end = self._file.end_if_same() if self._loaded else None
        if end is None:
            self._reload()
            return
        if end == self._cursor:
            return  # nothing new: one stat, no read
        chunk = self._file.read_from(self._cursor, self._header, self._next_line)
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
            while True:  # a few MiB at a time, until no whole record is left
                start = self._cursor
                chunk = self._file.read_from(start, self._header, self._next_line, _READ_SIZE)
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
        problem = _header_problem(header, self.name)
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
        if not self._indexes:
            return
        header, columns = chunk.header, chunk.columns
        if FUNCTION_COLUMN not in header:
            owned = self._indexes.get(self._owner) if self._owner else None
            if owned is not None:
                owned.add_columns(header, columns)
            return
        labels = columns[header.index(FUNCTION_COLUMN)]
        for function in set(labels):
            index = self._indexes.get(str(function) or self._owner or "")
            if index is None:
                continue
            if labels.count(function) == count:
                index.add_columns(header, columns)
            else:
                keep = [i for i, label in enumerate(labels) if label == function]
                index.add_columns(header, [[column[i] for i in keep] for column in columns])

    def _mend_tail(self) -> None:
        """Deal with an incomplete last record: one still being written, or torn.

        A process that may only read the store leaves it as it is, and out of the index.
        """
        # a writer holding the lock may still be writing that record
        with _if_permitted(self._lock) as held:
            chunk = self._file.read_from(self._cursor, self._header, self._next_line)
            self._take(chunk)
            if not chunk.tail or not held:
                return
            whole = self._file.parse_tail(chunk)
            if whole is not None and TIMESTAMP_COLUMN in whole.header:
                stamp = whole.columns[whole.header.index(TIMESTAMP_COLUMN)][0]
                if isinstance(stamp, str) and _is_time(stamp):
                    self._file.finish_tail(whole)  # a whole record missing its ending
                    self._take(whole)
                    return
            where = self._site.set_aside(chunk.tail)
            self._file.cut(self._cursor)
            _report.line(
                f"Set aside a torn last line of {self.name} (a writer stopped mid-write) "
                f"in {where}; every complete record is kept"
            )

    def snapshot(self) -> Snapshot:
        """Every record, read fresh (for status, reset and reports)."""
        reader = open_format(self.path, self.name)
        try:
            if not reader.exists():
                raise no_store("No stet store at this path yet", self.name)
            chunk = reader.read_from(0, [], 1)
        finally:
            reader.close()
        problem = _header_problem(chunk.header, self.name)
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
        run = (index.spec.function, _claim_key(key))  # as the claim holds it
        book = self._site.claims
        with self._mutex:
            here = self._held_here.get(run)
            if here is not None:  # another thread or task of this process runs it
                return None, here
            mine = Claim(run[0], run[1], call, Worker.current(), lease)
            holder = book.take(mine)
            if holder is not None:
                return None, holder
            self._held_here[run] = mine
            if not self._tidy_at_exit:
                self._tidy_at_exit = True
                at_exit(self._tidy)
            try:
                self._refresh()  # claimed first, then checked: a record lands before its release
            except BaseException:
                with contextlib.suppress(Exception):  # the refresh's error is what propagates
                    self._let_go(mine)
                raise
            if key in index.keys:
                self._let_go(mine)
                return None, None
        heartbeat().watch(book, mine, every, self.name)
        return mine, None

    def _let_go(self, claim: Claim) -> None:
        """Release ``claim`` in the book (under the mutex); this process holds it no more."""
        try:
            with self._lock:
                self._site.claims.release(claim)
        finally:
            self._held_here.pop((claim.function, claim.key), None)

    def release(self, claim: Claim) -> None:
        """Give up a claim whose call did not complete, so another worker may run it."""
        heartbeat().forget(claim)
        with self._mutex:
            self._let_go(claim)

    def running(self, function: str | None = None) -> list[Claim]:
        """The live claims of every worker (of one function, if given)."""
        with self._mutex:
            claims = self._site.claims.running()
        return [c for c in claims if function is None or c.function == function]

    def _tidy(self) -> None:
        """At exit: let the site remove what only running calls needed."""
        with self._mutex, contextlib.suppress(StoreConnectionError):
            self._site.tidy()

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
                            heartbeat().forget(claim)
                            self._let_go(claim)
            finally:  # the lock could not be taken: the claim lapses with its lease
                if claim is not None:
                    heartbeat().forget(claim)
                    self._held_here.pop((claim.function, claim.key), None)

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
        self._cursor = self._file.append(header, values, fsync=fsync)
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
        keys = [c for c in header if not c.startswith(RESERVED_PREFIX)] + missing
        labelled = label or FUNCTION_COLUMN in header
        failures = failure or ERROR_COLUMN in header
        new_header = [
            *keys,
            *([FUNCTION_COLUMN] if labelled else []),
            *([ERROR_COLUMN] if failures else []),
            TIMESTAMP_COLUMN,
        ]
        if self._file.add_columns(new_header):
            self._header = new_header
        else:
            self._rewrite(new_header, lambda row: True)

    def _rewrite(self, new_header: list[str], keep: Callable[[dict[str, Cell]], bool]) -> int:
        """Rewrite the store with ``new_header``, keeping the rows ``keep`` accepts."""
        snapshot = self.snapshot()
        kept = []
        removed = 0
        for row in snapshot.rows:
            values = dict(zip(snapshot.header, row, strict=True))
            values[FUNCTION_COLUMN] = values.get(FUNCTION_COLUMN) or snapshot.owner or ""
            if keep(values):
                kept.append([values.get(c, "") for c in new_header])
            else:
                removed += 1
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

    def convert(self, destination: str | os.PathLike[str]) -> int:
        """Copy every record into a new store at ``destination``; returns how many.

        The destination's extension picks its format. The source may be a CSV made
        without stet: its columns are then the key, and records without a
        ``_stet_timestamp`` get the time of the conversion.
        """
        target = get_store(destination)
        with self._mutex, _if_permitted(self._lock):  # a store this process may only read
            if not self._file.exists():
                raise no_store("No store at this path", self.name)
            reader = open_format(self.path, self.name)
            try:
                header, rows = _typed_rows(reader.read_from(0, [], 1))
            finally:
                reader.close()
            owner = self._read_owner()
            history = self._site.read_history()
        target._site.prepare()
        with target._mutex, target._lock:
            if target._file.exists():
                raise store_exists(
                    f"{target.name} already exists; stet never writes over a store. Give a "
                    "new path, or remove that one first.",
                    target.name,
                    api="stet.convert",
                )
            if owner is not None:
                target._write_owner(owner)
            if history:
                target._site.write_history(history)
            target._file.rewrite(header, rows)
            target._loaded = False
        return len(rows)

    def settle(self) -> None:
        """Let the format finish deferred work (Parquet compacts its journal); at exit."""
        # a server gone, or the store removed meanwhile (a temporary directory): nothing
        # to finish
        with contextlib.suppress(StoreConnectionError, FileNotFoundError):
            if not self._file.exists():
                return
            with self._mutex, self._lock:
                self._file.settle()

    # -- the owner file

    def _read_owner(self) -> str | None:
        return self._site.read_owner()

    def _write_owner(self, function: str) -> None:
        self._site.write_owner(function)
        self._owner = function

    def _after_fork(self) -> None:
        self._mutex = threading.RLock()  # another thread may have held it at the fork
        self._held_here = {}  # the parent's threads' claims are the parent's
        self._site.after_fork()
        self._loaded = False  # the fork may have split a record from its index entry


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


_CLAIM_KEY_LIMIT = 1024  # PostgreSQL's index of claims holds about 2.7 KB of a key


def _claim_key(key: bytes) -> bytes:
    """A run's key as claims hold it: a long one (many values, long text) by its digest.

    No key starts with ``#``, so a digest is never another run's key.
    """
    if len(key) <= _CLAIM_KEY_LIMIT:
        return key
    import hashlib

    return b"#" + hashlib.sha256(key).digest()


def _header_problem(header: list[str], name: str) -> DamagedStoreError | None:
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


def _typed_rows(chunk: Chunk) -> tuple[list[str], list[tuple[Cell, ...]]]:
    """A store's records in the layout of a stet store, numbers as numbers."""
    source = chunk.header
    keys = [c for c in source if not c.startswith(RESERVED_PREFIX)]
    labels = [c for c in (FUNCTION_COLUMN, ERROR_COLUMN) if c in source]
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


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


_registry: dict[str, Store] = {}
_registry_lock = threading.Lock()


def get_store(location: str | os.PathLike[str], name: str | None = None) -> Store:
    """The process's one ``Store`` for a location (relative paths: the working directory).

    A path is resolved once, here, to the file it names through any symbolic links: a
    rewrite replaces that file (never the link), and its lock, owner and claims sit
    beside it, whichever path each process uses. Messages show the path as given (or
    ``name``, for a location resolved earlier), as the first to ask for the store gave it.
    """
    given = os.fspath(location)
    path = given if is_url(given) else os.path.realpath(store_path(given))
    with _registry_lock:
        store = _registry.get(path)
        if store is None:
            store = _registry[path] = Store(path, redacted(given if name is None else name))
        return store


def _reopen(path: str, name: str) -> Store:
    store = get_store(path)
    store.name = redacted(name)
    return store


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for store in _registry.values():
        store._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
