"""The Parquet format: a directory of Parquet part files and a journal of recent records.

``runs.parquet`` is a directory of part files (``part-<n>-<id>.parquet``) and nothing
else, so any Parquet reader reads it as a dataset (``pandas.read_parquet``, pyarrow,
polars, DuckDB's ``read_parquet('runs.parquet/**')``). The parts hold records in typed
columns: int64, float64, or string where text or a mix of text and numbers occurs
(numbers as their text, which stet reads back as the same numbers); null where a record
lacks the column. The journal ``runs.parquet.journal``, beside the directory, holds
what was appended since: a header line naming the live parts, then one JSON object per
record, as in the JSON Lines format. An append is one line written to the journal:
cheap, and in the OS when it returns. (A store made by an older stet keeps its journal
inside the directory, as ``_stet_journal.jsonl``; its first compaction moves it out.)

A compaction moves the journal's records into a new part: written under a hidden name
beside the directory, synced, renamed into it, and then committed by replacing the
journal with one that lists the new part and holds no records. It happens
``FLUSH_AFTER`` seconds after a process appended a record (from a background thread,
or on its next append), when the journal holds ``COMPACT_AT`` records, before this
process reads the store afresh (``stet.status``, ``stet.load``, the end of a sweep),
and when a writing process exits: a plain Parquet reader sees every record a few
seconds after it was recorded. That replacement is the one commit point of compactions and
rewrites: readers read only the parts the journal lists, so other part files are
leftovers of a killed writer, which the next writer removes.

The new journal's header names the journal it continues and that journal's length.
A process that has read the old journal up to some offset reads the rest of it from its
open descriptor (no one appends to a replaced journal), then the new journal: a
compaction costs other processes no new reading of the parts. A rewrite (``stet.reset``)
continues nothing, so they read the store again. A cursor is the journal's generation
times ``2**40`` plus an offset in it; cursors -1, -2, ... are batches of the parts,
during a read from 0.

Every part has the same columns and types, so a reader of the directory sees one table.
When new records add a column or no longer fit a column's type, the compaction merges
every part into one; otherwise it merges the newest parts no larger than what it adds
(and the newest whenever there would be more than ``MAX_PARTS``), which keeps the number
of parts logarithmic in the number of records, and below ``MAX_PARTS``: a day-long
sweep leaves a few files, and each record is rewritten a logarithmic number of times.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import re
import secrets
import threading
import time
from itertools import accumulate

import pyarrow  # type: ignore[import-untyped]
import pyarrow.parquet  # type: ignore[import-untyped]

from .._files import write_atomically
from .._values import foreign_cell, utf8_text
from .base import Chunk, DamagedStoreError, Generation, StoreFormat, TornTails
from .filesite import FileSite
from .jsonlines import JsonLinesFile
from .linefile import set_aside

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Sequence
    from typing import Any

    from .._values import Cell

__all__ = ["COMPACT_AT", "FLUSH_AFTER", "JOURNAL", "MAX_PARTS", "ParquetDir", "journal_path"]

JOURNAL = ".journal"  # the journal of ``runs.parquet`` is ``runs.parquet.journal``
_OLD_JOURNAL = "_stet_journal.jsonl"  # where an older stet kept it: inside the directory
COMPACT_AT = 20_000  # an append first compacts a journal holding this many records
FLUSH_AFTER = 5.0  # seconds from a process's append to the part holding it
MAX_PARTS = 8  # a compaction that would leave more parts merges the newest ones
_GENERATION = 1 << 40  # cursor = generation * _GENERATION + offset in that journal
_BATCH_ROWS = 1 << 16  # rows of the parts per read, when the reader sets a limit
_PART = re.compile(r"part-(\d{10})-[0-9a-f]{8}\.parquet")
_TEMP = re.compile(r"\.part-\d{10}-[0-9a-f]{8}\.parquet\.tmp")  # an older stet's, inside
_TYPES = (pyarrow.int64(), pyarrow.float64(), pyarrow.string())  # a column widens left to right
_TEXT = 2  # the rank of string in _TYPES


def journal_path(path: str) -> str:
    """The journal of the store at ``path`` (``runs.parquet.journal``, or an older
    stet's ``runs.parquet/_stet_journal.jsonl`` until its first compaction)."""
    beside, inside = path + JOURNAL, os.path.join(path, _OLD_JOURNAL)
    return inside if not os.path.exists(beside) and os.path.exists(inside) else beside


class ParquetDir(StoreFormat, TornTails):
    """A ``.parquet`` store: a directory of Parquet parts and a JSON Lines journal."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        self.site = FileSite(self.path, name)  # lock, owner, claims beside it
        self._journal = _Journal(journal_path(path), name)
        self._pending: float | None = None  # when this process appended the oldest record
        # that may still wait in the journal (time.monotonic()); under the lock
        self._header: _Header | None = None  # the open journal's header, once read
        self._next: tuple[_Journal, _Header] | None = None  # the journal continuing it
        self._journal_records = 0  # records known to be in the journal, for COMPACT_AT
        self._reading: _PartReading | None = None  # a read from 0 under way

    def generation(self) -> Generation | None:
        if not self._exists():
            return None
        end = self._end_if_same()
        return Generation(0, False) if end is None else Generation(end, True)

    def _exists(self) -> bool:
        """The directory and its journal (a journal whose directory was removed by hand
        is a stale one: the store is gone)."""
        return os.path.isdir(self.path) and os.path.exists(journal_path(self.path))

    def _end_if_same(self) -> int | None:
        if not os.path.isdir(self.path):
            return None  # removed (a journal without its directory is a stale one)
        end = self._journal.end_if_same()
        if end is not None and self._header is not None:
            return self._header.cursor(end)
        self._drop_next()
        self._next = self._successor()
        if self._next is None:
            return None
        journal, header = self._next
        end = journal.end_if_same()
        return None if end is None else header.cursor(end)

    def _successor(self) -> tuple[_Journal, _Header] | None:
        """The journal that replaced the open one by compacting all of it, or None."""
        if self._header is None or not self._journal.is_open():
            return None
        journal = _Journal(self._journal.path, self.name)
        try:
            header = journal.read_header()
        except (DamagedStoreError, OSError):
            header = None
        if header is None or header.continues != (self._header.ident, self._journal.size()):
            journal.close()
            return None
        return journal, header

    def _drop_next(self) -> None:
        if self._next is not None:
            self._next[0].close()
            self._next = None

    def close(self) -> None:
        self._stop_reading()
        self._drop_next()
        self._journal.close()
        self._header = None

    # -- reading

    def read(
        self,
        cursor: int,
        header: Sequence[str],
        max_rows: int | None = None,
        first_line: int = 1,
    ) -> Chunk:
        limit = max_rows
        if cursor > 0:
            chunk = self._read_on(cursor, header, limit)
        elif cursor == 0:
            _flusher.flush(self.path)  # a fresh read: what this process wrote is in parts
            chunk = self._read_parts(cursor, header, limit)
        elif self._reading is not None and cursor == self._reading.cursor:
            chunk = self._read_parts(cursor, header, limit)
        else:
            raise ValueError(f"{self.name}: a read from {cursor} must follow the read ending there")
        chunk.first_line = first_line
        return chunk

    def _read_on(self, cursor: int, header: Sequence[str], limit: int | None) -> Chunk:
        """The journal's records after ``cursor``, and the next journal's if one continues it."""
        generation, offset = divmod(cursor, _GENERATION)
        current = self._header
        if current is None or generation != current.generation:
            raise ValueError(f"{self.name}: the cursor {cursor} is not in the open journal")
        chunk = self._read_journal(offset, header, limit)
        self._journal_records += chunk.count
        if self._next is not None:
            journal, following = self._next
            self._next = None
            if following.continues == (current.ident, chunk.end) and not chunk.tail:  # all read
                self._journal.close()
                self._journal, self._header = journal, following
                more = self._read_journal(following.start, chunk.header, limit)
                self._journal_records = more.count
                chunk = _joined(chunk, more)
            else:  # not what the new header says: the next check reads everything again
                journal.close()
                self._journal.close()
        chunk.end = (self._header or current).cursor(chunk.end)  # in the new journal, if read
        return chunk

    def _read_parts(self, cursor: int, header: Sequence[str], limit: int | None) -> Chunk:
        """The parts a batch at a time (all at once without ``limit``), then the journal."""
        if cursor == 0:
            self._stop_reading()
            self._drop_next()
            self._reading = self._start_reading(header)
            if self._reading is None:
                return Chunk([])  # no journal: no store
        reading = self._reading
        assert reading is not None and self._header is not None
        names = list(reading.names)
        parts = Chunk(names, [[] for _ in names])
        for batch in reading.batches:
            for i, cells in enumerate(_batch_cells(batch, names)):
                if parts.count:
                    parts.columns[i] += cells
                else:
                    parts.columns[i] = cells  # the first batch's lists: no copy
            parts.count += batch.num_rows
            if limit is not None and parts.count >= limit:
                reading.cursor -= 1
                parts.end = reading.cursor
                return parts
        self._stop_reading()  # every part is read: now the journal
        chunk = self._read_journal(self._header.start, names, limit)
        self._journal_records = chunk.count
        chunk = _joined(parts, chunk)
        chunk.end = self._header.cursor(chunk.end)
        return chunk

    def _start_reading(self, header: Sequence[str]) -> _PartReading | None:
        """Open the journal and every part it lists (then the parts may be removed)."""
        for _ in range(100):  # start again while other writers replace the journal
            self._journal.close()
            self._journal = _Journal(journal_path(self.path), self.name)
            try:
                self._header = self._journal.read_header()
            except NotADirectoryError:  # the path is a file
                self._header = None
            if self._header is None:
                self._refuse_foreign()
                return None
            if not os.path.isdir(self.path):  # removed by hand: its journal is stale
                self._journal.close()
                self._header = None
                return None  # no store (the next record starts a new one)
            files: list[tuple[str, Any, Any]] = []  # name, open file, ParquetFile
            try:
                for part in self._header.parts:
                    source = pyarrow.OSFile(os.path.join(self.path, part))
                    files.append((part, source, None))
                    files[-1] = (part, source, pyarrow.parquet.ParquetFile(source))  # its footer
            except FileNotFoundError:
                _close_all(files)
                if self._journal.end_if_same() is None:
                    continue  # a compaction or rewrite removed it meanwhile: read again
                raise DamagedStoreError(
                    f"{self.name} is damaged: its journal lists the part file {part}, which "
                    "is missing. Restore it from a copy; stet changed nothing."
                ) from None
            except pyarrow.ArrowInvalid as error:
                _close_all(files)
                raise _unreadable(self.name, part, error) from None
            names = list(header)
            for _, _, parquet in files:
                names += [n for n in parquet.schema_arrow.names if n not in names]
            return _PartReading(names, files, self.name)
        raise OSError(f"{self.name} kept changing while stet read it; try again")

    def _stop_reading(self) -> None:
        if self._reading is not None:
            self._reading.batches.close()  # closes the part files
            self._reading = None

    def _read_journal(self, offset: int, header: Sequence[str], limit: int | None) -> Chunk:
        """The open journal's records after ``offset``; ``end`` is an offset too."""
        try:
            return self._journal.read(offset, header, limit, 0)
        except DamagedStoreError:  # read again, to name the line at fault by its number
            line = 1 + self._journal.head(offset).count(b"\n")
            return self._journal.read(offset, header, limit, line)

    def _refuse_foreign(self) -> None:
        """A clear error when the path holds something other than a stet store."""
        if not os.path.exists(self.path):
            return
        if not os.path.isdir(self.path):
            raise DamagedStoreError(
                f"{self.name} is not a stet store: stet keeps a .parquet store as a "
                "directory of part files and a journal, and this is a file. Use another "
                "store path; to import its rows, save them as a CSV file (pandas."
                "read_parquet(path).to_csv(csv_path, index=False)) and use "
                "stet.convert(csv_path, new_path). stet changed nothing."
            )
        visible = [n for n in os.listdir(self.path) if not n.startswith((".", "_"))]
        if visible:
            raise DamagedStoreError(
                f"{self.name} is not a stet store: it has no journal ({JOURNAL}) naming "
                f"its part files, yet it holds {', '.join(sorted(visible)[:3])}. Restore "
                "the journal, or use another store path; stet changed nothing."
            )

    # -- writing (under the store's lock)

    def append(
        self, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, fsync: bool
    ) -> int | None:
        now = time.monotonic()
        due = self._pending is not None and now - self._pending >= FLUSH_AFTER
        if due or self._journal_records >= COMPACT_AT:
            try:
                compacted = self._compact()
            except Exception:
                # No part now (a full disk, say): the record still goes to the journal,
                # whichever is there, and the compaction is tried again later.
                compacted, self._pending = True, None  # scheduled again below
            if compacted:
                self._drop_next()  # append to the new journal, empty but for its header
                self._journal.close()
                self._journal = _Journal(journal_path(self.path), self.name)
                self._header = None
                self._journal_records = 0
        if self._header is None:
            self._header = self._journal.read_header()
            if self._header is None:
                raise FileNotFoundError(2, "The store's journal is gone", self._journal.path)
        end = self._journal.append(header, rows, fsync=fsync)
        assert end is not None  # a record names its own columns
        if not rows:
            return self._header.cursor(end)
        self._journal_records += len(rows)
        if self._pending is None:
            self._pending = now
            _flusher.add(self, now + FLUSH_AFTER)
        return self._header.cursor(end)

    def flush(self, early: bool = False) -> None:
        """Compact what this process appended once it waited ``FLUSH_AFTER`` seconds
        (``early``: now), under the store's lock; from any thread."""
        if (self._pending is None and not early) or not self._exists():
            return  # (early: a compaction under way in another thread is waited for)
        with self.site.lock:
            since = self._pending
            if since is None:
                return  # compacted meanwhile
            if not early and time.monotonic() < since + FLUSH_AFTER:
                _flusher.add(self, since + FLUSH_AFTER)  # records came after a compaction
                return
            self._compact()
            self._pending = None  # a torn tail is left for the Store to mend first

    def finish_tail(self, chunk: Chunk, whole: Callable[[Chunk], bool]) -> Chunk | None:
        return self._journal.finish_tail(chunk, whole)

    def set_aside_tail(self, chunk: Chunk) -> str:
        where = set_aside(self.path, chunk.tail)  # beside the store: runs.parquet.torn
        self._journal.cut(chunk.end % _GENERATION)
        return where

    def rewrite(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        os.makedirs(self.path, exist_ok=True)
        parts = []
        if rows:
            columns = [list(cells) for cells in zip(*rows, strict=True)]
            kept = [(c, v) for c, v in zip(header, columns, strict=True) if _has_values(v)]
            schema = pyarrow.schema([(c, _TYPES[_rank(cells)]) for c, cells in kept])
            arrays = [_array(cells, _rank(cells)) for _, cells in kept]
            parts.append(self._write_part(pyarrow.Table.from_arrays(arrays, schema=schema)))
        current = _Journal(journal_path(self.path), self.name)
        try:
            old = current.read_header()
        except (DamagedStoreError, OSError):
            old = None
        finally:
            current.close()
        self._commit(parts, (old.generation if old else 0) + 1, None)
        self.close()  # other processes, and this one, read the new store from the start

    def settle(self) -> None:
        if self._exists():
            self._compact()  # this process, if it goes on, continues into the new journal

    def _compact(self) -> bool:
        """Move the journal's records into a part; whether a new journal was committed."""
        journal = _Journal(journal_path(self.path), self.name)  # the journal now, under the lock
        try:
            header = journal.read_header()
            if header is None:
                return False
            infos = [pyarrow.parquet.read_metadata(self._part_path(p)) for p in header.parts]
            schemas = [info.schema.to_arrow_schema() for info in infos]
            ranks: dict[str, int] = {}  # what every part's column must be
            for schema in schemas:
                for field in schema:
                    ranks[field.name] = max(ranks.get(field.name, -1), _type_rank(field.type))
            chunk = journal.read(header.start, list(ranks), None, 2)
        finally:
            journal.close()
        if chunk.tail:  # a torn or unfinished record: the Store sets it aside or ends it
            self._journal_records = 0  # and the next compaction waits for as many records
            return False
        if not chunk.count:
            self._pending = None  # another process compacted this one's records
            self._remove_leftovers(header.parts)
            return False
        before = dict(ranks)
        for column, cells in zip(chunk.header, chunk.columns, strict=True):
            if _has_values(cells):
                ranks[column] = max(ranks.get(column, -1), _rank(cells))
        ranks = {column: max(rank, 0) for column, rank in ranks.items()}  # null: int64
        target = pyarrow.schema([(c, _TYPES[rank]) for c, rank in ranks.items()])
        position = {column: i for i, column in enumerate(chunk.header)}
        arrays = [_array(chunk.columns[position[c]], rank) for c, rank in ranks.items()]
        keep = len(header.parts)
        if ranks == before and all(s.equals(target) for s in schemas):
            size = chunk.count  # merge the newest parts no larger than what is merged,
            while keep and (infos[keep - 1].num_rows <= size or keep >= MAX_PARTS):
                keep -= 1  # and the newest whenever one more part would be too many
                size += infos[keep].num_rows
        else:
            keep = 0  # a new column or type: every part takes the new schema
        tables = [_conform(self._read_part(p), target) for p in header.parts[keep:]]
        tables.append(pyarrow.Table.from_arrays(arrays, schema=target))
        part = self._write_part(pyarrow.concat_tables(tables))
        self._commit([*header.parts[:keep], part], header.generation + 1, (header.ident, chunk.end))
        return True

    def _part_path(self, part: str) -> str:
        return os.path.join(self.path, part)

    def _read_part(self, part: str) -> Any:
        with pyarrow.OSFile(self._part_path(part)) as source:
            return pyarrow.parquet.ParquetFile(source).read()

    def _write_part(self, table: Any) -> str:
        """Write a part under a hidden name, sync it, and give it its name."""
        numbers = [int(m[1]) for n in os.listdir(self.path) if (m := _PART.fullmatch(n))]
        part = f"part-{max(numbers, default=0) + 1:010d}-{secrets.token_hex(4)}.parquet"
        temp = self._temp_path(part)  # beside the directory: readers of it never see it
        try:
            pyarrow.parquet.write_table(table, temp, compression="zstd")
            fd = os.open(temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self._part_path(part))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp)
            raise
        return part

    def _commit(self, parts: list[str], generation: int, continues: tuple[str, int] | None) -> None:
        """Replace the journal with an empty one listing ``parts``: the commit point."""
        header: dict[str, Any] = {"_stet_journal": secrets.token_hex(8), "parts": parts}
        header["generation"] = generation
        if continues is not None:  # every record of that journal, up to end, is in the parts
            header["continues"] = {"journal": continues[0], "end": continues[1]}
        write_atomically(self.path + JOURNAL, (json.dumps(header) + "\n").encode())
        self._pending = None
        with contextlib.suppress(FileNotFoundError):  # an older stet's, now replaced
            os.remove(os.path.join(self.path, _OLD_JOURNAL))
        self._remove_leftovers(parts)

    def _temp_path(self, part: str) -> str:
        parent, base = os.path.split(self.path)
        return os.path.join(parent, f".{base}.{part}.tmp")

    def _remove_leftovers(self, parts: list[str]) -> None:
        """Remove part files no journal lists: left by writers killed mid-compaction."""
        listed = set(parts)
        with os.scandir(self.path) as entries:
            for entry in entries:
                name = entry.name
                if (_PART.fullmatch(name) and name not in listed) or _TEMP.fullmatch(name):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(entry.path)
        parent, base = os.path.split(self.path)
        prefix = f".{base}."
        with os.scandir(parent or ".") as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(prefix) and _PART.fullmatch(name[len(prefix) : -4]):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(entry.path)


class _Header:
    """A journal's first line: the live parts, and the journal it continues."""

    def __init__(
        self,
        start: int,
        ident: str,
        generation: int,
        parts: list[str],
        continues: tuple[str, int] | None,
    ) -> None:
        self.start = start  # where the records start
        self.ident = ident
        self.generation = generation
        self.parts = parts
        self.continues = continues  # (ident, length) of the journal it compacted

    def cursor(self, offset: int) -> int:
        return self.generation * _GENERATION + offset


class _Journal(JsonLinesFile):
    """The journal: JSON Lines whose first line is a header."""

    def __init__(self, path: str, store_name: str) -> None:
        inside = os.path.basename(path) == _OLD_JOURNAL
        name = os.path.join(store_name, _OLD_JOURNAL) if inside else store_name + JOURNAL
        super().__init__(path, name)

    def is_open(self) -> bool:
        return self._fd is not None

    def end_if_same(self) -> int | None:
        """The journal's size while the path still names the open journal, else None."""
        look = self.generation()
        return look.end if look is not None and look.same else None

    def cut(self, offset: int) -> None:
        """Drop the journal's bytes after ``offset`` (a torn tail, set aside)."""
        self._cut(offset)

    def size(self) -> int:
        return os.fstat(self._fd).st_size if self._fd is not None else -1

    def head(self, end: int) -> bytes:
        """The journal's bytes before ``end``."""
        fd = self._open()
        return os.pread(fd, end, 0) if fd is not None else b""

    def read_header(self) -> _Header | None:
        """The header of the journal at the path (opening it); None if there is none."""
        fd = self._open()
        if fd is None:
            return None
        data = b""
        while b"\n" not in data and (more := os.pread(fd, 1 << 16, len(data))):
            data += more
        end = data.find(b"\n")
        try:
            fields = json.loads(data[:end]) if end > 0 else None
        except ValueError:
            fields = None
        if isinstance(fields, dict):
            ident, parts = fields.get("_stet_journal"), fields.get("parts")
            generation, continues = fields.get("generation", 1), fields.get("continues")
            if (
                isinstance(ident, str)
                and isinstance(parts, list)
                and all(isinstance(p, str) and _PART.fullmatch(p) for p in parts)
                and type(generation) is int
                and generation > 0
            ):
                after = None
                if isinstance(continues, dict) and type(continues.get("end")) is int:
                    after = (str(continues.get("journal")), continues["end"])
                return _Header(end + 1, ident, generation, parts, after)
        raise DamagedStoreError(
            f"{self.name} is damaged: its first line is not the header naming the "
            "store's part files. Restore it from a copy; stet changed nothing."
        )


class _PartReading:
    """A read from 0 under way: the open parts, read a batch at a time."""

    def __init__(self, names: list[str], files: list[tuple[str, Any, Any]], name: str) -> None:
        self.names = names  # every column of the parts, after the reader's header
        self.cursor = 0  # the cursor this reading continues from
        self.batches = _batches(files, name)


def _batches(files: list[tuple[str, Any, Any]], name: str) -> Generator[Any, None, None]:
    """The record batches of every part in turn; the files are closed at the end."""
    try:
        for part, _, parquet in files:
            try:
                yield from parquet.iter_batches(batch_size=_BATCH_ROWS)
            except pyarrow.ArrowInvalid as error:
                raise _unreadable(name, part, error) from None
    finally:
        _close_all(files)


def _close_all(files: list[tuple[str, Any, Any]]) -> None:
    for _, source, _ in files:
        source.close()


def _unreadable(name: str, part: str, error: Exception) -> DamagedStoreError:
    return DamagedStoreError(
        f"{name} is damaged: its part file {part} is not readable Parquet ({error}). "
        "Restore it from a copy; stet changed nothing."
    )


def _joined(first: Chunk, second: Chunk) -> Chunk:
    """Two chunks read one after the other as one; ``second`` knows every column."""
    columns = first.columns
    for i, cells in enumerate(second.columns):
        if i < len(columns):
            columns[i] += cells
        else:  # a column the first chunk does not have
            padding: list[Cell] = [""] * first.count
            columns.append(padding + cells)
    count = first.count + second.count
    return Chunk(second.header, columns, count, second.end, second.tail, first.first_line)


# -- cells and columns


def _batch_cells(batch: Any, names: list[str]) -> list[list[Cell]]:
    """A batch's cells in the columns ``names`` ("" where it lacks a column)."""
    found = dict(zip(batch.schema.names, batch.columns, strict=True))
    return [_cells(found[n]) if n in found else [""] * batch.num_rows for n in names]


def _cells(column: Any) -> list[Cell]:
    """A Parquet column's cells: numbers stay numbers, strings are cells, null is ""."""
    values: list[Any] = column.to_pylist()
    kind = column.type
    if not (
        pyarrow.types.is_integer(kind)
        or pyarrow.types.is_floating(kind)
        or pyarrow.types.is_string(kind)
        or pyarrow.types.is_large_string(kind)
    ):
        return [foreign_cell(value) for value in values]  # a file edited by hand
    if column.null_count:
        return ["" if value is None else value for value in values]
    return values


def _has_values(cells: list[Cell]) -> bool:
    return cells.count("") < len(cells)


def _rank(cells: Sequence[Cell]) -> int:
    """The narrowest type of ``_TYPES`` that holds these cells ("" is null)."""
    kinds = set(map(type, cells))
    if str in kinds and any(type(c) is str and c for c in cells):
        return _TEXT
    return 0 if kinds <= {int, str} else 1


def _type_rank(kind: Any) -> int:
    """Where a Parquet column's type stands among _TYPES (-1: only nulls)."""
    if pyarrow.types.is_null(kind):
        return -1
    if pyarrow.types.is_integer(kind):
        return 0
    if pyarrow.types.is_floating(kind):
        return 1
    return _TEXT  # string, or anything else written by hand: kept as its cells' text


def _array(cells: Sequence[Cell], rank: int) -> Any:
    """A column of ``_TYPES[rank]`` holding these cells.

    Built from buffers: ``pyarrow.array`` on a list would import pandas, when installed.
    """
    valid = [c != "" for c in cells] if "" in cells else None
    if rank == _TEXT:
        texts = [c if type(c) is str else repr(c) for c in cells]
        try:
            encoded = [text.encode() for text in texts]
        except UnicodeEncodeError:  # a lone surrogate: _values gives the text to store
            encoded = [utf8_text(text).encode() for text in texts]
        return pyarrow.chunked_array(_text_arrays(encoded, valid), _TYPES[_TEXT])
    numbers: Any = [0 if c == "" else c for c in cells] if valid else cells
    data = pyarrow.py_buffer(array.array("q" if rank == 0 else "d", numbers))
    values = pyarrow.Array.from_buffers(_TYPES[rank], len(cells), [_bitmap(valid), data])
    return pyarrow.chunked_array([values], _TYPES[rank])


def _text_arrays(encoded: list[bytes], valid: list[bool] | None) -> list[Any]:
    """String arrays of these UTF-8 texts, split where the 32-bit offsets would overflow."""
    offsets = array.array("q", accumulate(map(len, encoded), initial=0))
    if offsets[-1] >= 2**31 and len(encoded) > 1:
        half = len(encoded) // 2
        return _text_arrays(encoded[:half], valid and valid[:half]) + _text_arrays(
            encoded[half:], valid and valid[half:]
        )
    buffers = [
        _bitmap(valid),
        pyarrow.py_buffer(array.array("i", offsets)),
        pyarrow.py_buffer(b"".join(encoded)),
    ]
    return [pyarrow.Array.from_buffers(_TYPES[_TEXT], len(encoded), buffers)]


def _bitmap(valid: list[bool] | None) -> Any:
    """Arrow's validity bitmap: bit i (least significant first) set when cell i is not null."""
    if valid is None:
        return None
    bits = int("".join(["1" if v else "0" for v in reversed(valid)]) or "0", 2)
    return pyarrow.py_buffer(bits.to_bytes((len(valid) + 7) // 8, "little"))


def _conform(table: Any, schema: Any) -> Any:
    """``table`` with exactly ``schema``'s columns and types."""
    if table.schema.equals(schema):
        return table
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pyarrow.chunked_array([pyarrow.nulls(table.num_rows, field.type)]))
            continue
        column = table.column(field.name)
        if column.type.equals(field.type):
            columns.append(column)
        else:
            columns.append(_array(_cells(column), _TYPES.index(field.type)))
    return pyarrow.Table.from_arrays(columns, schema=schema)


class _Flusher:
    """One thread per process that compacts, ``FLUSH_AFTER`` seconds after an append,
    the stores whose records this process appended to their journal."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._due: dict[ParquetDir, float] = {}  # store -> when to compact it
        self._writers: set[ParquetDir] = set()  # every store this process appended to
        self._thread: threading.Thread | None = None

    def add(self, store: ParquetDir, at: float) -> None:
        with self._changed:
            self._writers.add(store)
            if store in self._due:
                return
            self._due[store] = at
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stet-parquet", daemon=True)
                self._thread.start()
            self._changed.notify()

    def flush(self, path: str) -> None:
        """Compact now what this process appended to the store at ``path`` (after the
        background compaction under way, if any)."""
        real = os.path.realpath(path)
        with self._changed:
            stores = [s for s in self._writers if os.path.realpath(s.path) == real]
        for store in stores:
            store.flush(early=True)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._due:
                    self._changed.wait()
                store, at = min(self._due.items(), key=lambda item: item[1])
                wait = at - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                del self._due[store]
            # A failure leaves the records safe in the journal; the next append tries again.
            with contextlib.suppress(Exception):
                store.flush()

    def after_fork(self) -> None:
        """In a forked child: the thread stayed in the parent, and so do its stores'
        waiting records (the child schedules its own)."""
        for store in self._writers:
            store._pending = None
        self._changed = threading.Condition()
        self._due = {}
        self._writers = set()
        self._thread = None


_flusher = _Flusher()
os.register_at_fork(after_in_child=_flusher.after_fork)
