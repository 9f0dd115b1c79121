"""A journaled store: a directory of part files, and a journal of recent records.

``runs.parquet`` is a directory of part files (``part-<n>-<id>.parquet``) and nothing
else, so any reader of the part format reads it as a dataset. How a part holds cells is
its *codec*'s business (:class:`PartCodec`: ``read_part`` and ``write_part``; Parquet's
is ``stet.formats.parquetdir``); this module is the rest. The journal
``runs.parquet.journal``, beside the directory, holds what was appended since: a header
line naming the live parts, then one JSON object per record, as in the JSON Lines
format (``stet.formats.journal``). An append is one line written to the journal:
cheap, and in the OS when it returns. (A store made by an older stet keeps its journal
inside the directory, as ``_stet_journal.jsonl``; its first compaction moves it out.)

A compaction moves the journal's records into a new part: written under a hidden name
beside the directory, synced, renamed into it, and then committed by replacing the
journal with one that lists the new part and holds no records. It happens
``FLUSH_AFTER`` seconds after a process appended a record (from a background thread,
or on its next append), when the journal holds ``COMPACT_AT`` records, before this
process reads the store afresh (``stet.status``, ``stet.load``, the end of a sweep),
and when a writing process exits: a plain reader sees every record a few seconds after
it was recorded. That replacement is the one commit point of compactions and rewrites:
readers read only the parts the journal lists, so other part files are leftovers of a
killed writer, which the next writer removes.

The new journal's header names the journal it continues and that journal's length.
A process that has read the old journal up to some offset reads the rest of it from its
open descriptor (no one appends to a replaced journal), then the new journal: a
compaction costs other processes no new reading of the parts. A rewrite (``stet.reset``)
continues nothing, so they read the store again. A cursor is the journal's generation
times ``2**40`` plus an offset in it; cursors -1, -2, ... are batches of the parts,
during a read from 0.

Every part has the same columns and types (the codec sees to it). A compaction merges
the newest parts no larger than what it adds (and the newest whenever there would be
more than ``MAX_PARTS``), or all of them when the codec needs a new column or type: the
number of parts stays logarithmic in the number of records, and below ``MAX_PARTS``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time

from .._files import write_atomically
from .base import Chunk, DamagedStoreError, Generation, StoreFormat, TornTails
from .filesite import FileSite
from .flusher import FLUSHER
from .journal import GENERATION, JOURNAL, OLD_JOURNAL, Header, Journal, journal_path
from .linefile import set_aside
from .parts import PartReading, close_all, joined, place_part, remove_unlisted, temp_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .._values import Cell
    from .parts import Part, PartCodec

__all__ = ["COMPACT_AT", "FLUSH_AFTER", "MAX_PARTS", "JournaledDir"]

COMPACT_AT = 20_000  # an append first compacts a journal holding this many records
FLUSH_AFTER = 5.0  # seconds from a process's append to the part holding it
MAX_PARTS = 8  # a compaction that would leave more parts merges the newest ones


class JournaledDir(StoreFormat, TornTails):
    """A store of part files (``codec``) and a JSON Lines journal."""

    codec: PartCodec

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        self.site = FileSite(self.path, name)  # lock, owner, claims beside it
        extension = re.escape(self.codec.extension)
        self._part_name = re.compile(rf"part-(\d{{10}})-[0-9a-f]{{8}}{extension}")
        self._old_temp = re.compile(rf"\.part-\d{{10}}-[0-9a-f]{{8}}{extension}\.tmp")  # inside
        self._journal = self._open_journal()
        self._pending: float | None = None  # when this process appended the oldest record
        # that may still wait in the journal (time.monotonic()); under the lock
        self._header: Header | None = None  # the open journal's header, once read
        self._next: tuple[Journal, Header] | None = None  # the journal continuing it
        self._journal_records = 0  # records known to be in the journal, for COMPACT_AT
        self._reading: PartReading | None = None  # a read from 0 under way

    def _open_journal(self) -> Journal:
        return Journal(journal_path(self.path), self.name, self._part_name)

    def generation(self) -> Generation | None:
        if self._header is not None:  # read before: one look at the directory and journal
            end = self._end_if_same()
            if end is not None:
                return Generation(end, True)
        return Generation(0, False) if self._exists() else None  # read it (again) from 0

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

    def _successor(self) -> tuple[Journal, Header] | None:
        """The journal that replaced the open one by compacting all of it, or None."""
        if self._header is None or not self._journal.is_open():
            return None
        journal = Journal(self._journal.path, self.name, self._part_name)
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
        if cursor > 0:
            chunk = self._read_on(cursor, header, max_rows)
        elif cursor == 0:
            FLUSHER.flush(self.path)  # a fresh read: what this process wrote is in parts
            chunk = self._read_parts(cursor, header, max_rows)
        elif self._reading is not None and cursor == self._reading.cursor:
            chunk = self._read_parts(cursor, header, max_rows)
        else:
            raise ValueError(f"{self.name}: a read from {cursor} must follow the read ending there")
        chunk.first_line = first_line
        return chunk

    def _read_on(self, cursor: int, header: Sequence[str], max_rows: int | None) -> Chunk:
        """The journal's records after ``cursor``, and the next journal's if one continues it."""
        generation, offset = divmod(cursor, GENERATION)
        current = self._header
        if current is None or generation != current.generation:
            raise ValueError(f"{self.name}: the cursor {cursor} is not in the open journal")
        chunk = self._read_journal(offset, header, max_rows)
        self._journal_records += chunk.count
        if self._next is not None:
            journal, following = self._next
            self._next = None
            if following.continues == (current.ident, chunk.end) and not chunk.tail:  # all read
                self._journal.close()
                self._journal, self._header = journal, following
                more = self._read_journal(following.start, chunk.header, max_rows)
                self._journal_records = more.count
                chunk = joined(chunk, more)
            else:  # not what the new header says: the next check reads everything again
                journal.close()
                self._journal.close()
        chunk.end = (self._header or current).cursor(chunk.end)  # in the new journal, if read
        return chunk

    def _read_parts(self, cursor: int, header: Sequence[str], max_rows: int | None) -> Chunk:
        """The parts a batch at a time (all at once without ``max_rows``), then the journal."""
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
        for found, count in reading.batches:
            for i, name in enumerate(names):
                cells = found.get(name) or [""] * count
                if parts.count:
                    parts.columns[i] += cells
                else:
                    parts.columns[i] = cells  # the first batch's lists: no copy
            parts.count += count
            if max_rows is not None and parts.count >= max_rows:
                reading.cursor -= 1
                parts.end = reading.cursor
                return parts
        self._stop_reading()  # every part is read: now the journal
        chunk = self._read_journal(self._header.start, names, max_rows)
        self._journal_records = chunk.count
        chunk = joined(parts, chunk)
        chunk.end = self._header.cursor(chunk.end)
        return chunk

    def _start_reading(self, header: Sequence[str]) -> PartReading | None:
        """Open the journal and every part it lists (then the parts may be removed)."""
        for _ in range(100):  # start again while other writers replace the journal
            self._journal.close()
            self._journal = self._open_journal()
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
            try:
                opened = self._open_parts(self._header.parts)
            except FileNotFoundError as error:
                if self._journal.end_if_same() is None:
                    continue  # a compaction or rewrite removed it meanwhile: read again
                raise DamagedStoreError(
                    f"{self.name} is damaged: its journal lists the part file "
                    f"{error.filename}, which is missing. Restore it "
                    "from a copy; stet changed nothing."
                ) from None
            names = list(header)
            for part in opened:
                names += [n for n in part.columns if n not in names]
            return PartReading(names, opened)
        raise OSError(f"{self.name} kept changing while stet read it; try again")

    def _open_parts(self, names: Sequence[str]) -> list[Part]:
        """The parts of these names, open (none stays open when one fails)."""
        opened: list[Part] = []
        try:
            for part in names:
                try:
                    opened.append(self.codec.read_part(self._part_path(part), self.name))
                except FileNotFoundError:
                    raise FileNotFoundError(2, "A part file is missing", part) from None
        except BaseException:
            close_all(opened)
            raise
        return opened

    def _stop_reading(self) -> None:
        if self._reading is not None:
            self._reading.batches.close()  # closes the part files
            self._reading = None

    def _read_journal(self, offset: int, header: Sequence[str], max_rows: int | None) -> Chunk:
        """The open journal's records after ``offset``; ``end`` is an offset too."""
        try:
            return self._journal.read(offset, header, max_rows, 0)
        except DamagedStoreError:  # read again, to name the line at fault by its number
            line = 1 + self._journal.head(offset).count(b"\n")
            return self._journal.read(offset, header, max_rows, line)

    def _refuse_foreign(self) -> None:
        """A clear error when the path holds something other than a stet store."""
        if not os.path.exists(self.path):
            return
        if not os.path.isdir(self.path):
            raise DamagedStoreError(
                f"{self.name} is not a stet store: stet keeps a {self.codec.extension} store "
                "as a directory of part files and a journal, and this is a file. Use another "
                "store path; to import its rows, save them as a CSV file "
                f"({self.codec.reader}.to_csv(csv_path, index=False)) and use "
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
                self._journal = self._open_journal()
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
            FLUSHER.add(self, now + FLUSH_AFTER)
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
                FLUSHER.add(self, since + FLUSH_AFTER)  # records came after a compaction
                return
            self._compact()
            self._pending = None  # a torn tail is left for the Store to mend first

    def forget_pending(self) -> None:
        """In a forked child: the records waiting are the parent's to compact."""
        self._pending = None

    def finish_tail(self, chunk: Chunk, whole: Callable[[Chunk], bool]) -> Chunk | None:
        return self._journal.finish_tail(chunk, whole)

    def set_aside_tail(self, chunk: Chunk) -> str:
        where = set_aside(self.path, chunk.tail)  # beside the store: runs.parquet.torn
        self._journal.cut(chunk.end % GENERATION)
        return where

    def rewrite(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        os.makedirs(self.path, exist_ok=True)
        parts = []
        if rows:
            columns = [list(cells) for cells in zip(*rows, strict=True)]
            parts.append(self._write_part(header, columns, [], 0)[0])
        current = self._open_journal()
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
        journal = self._open_journal()  # the journal now, under the lock
        live: list[Part] = []
        try:
            header = journal.read_header()
            if header is None:
                return False
            live = self._open_parts(header.parts)
            names: list[str] = []  # what every part's columns are
            for part in live:
                names += [n for n in part.columns if n not in names]
            chunk = journal.read(header.start, names, None, 2)
            if chunk.tail:  # a torn or unfinished record: the Store sets it aside or ends it
                self._journal_records = 0  # and the next compaction waits for as many records
                return False
            if not chunk.count:
                self._pending = None  # another process compacted this one's records
                self._remove_leftovers(header.parts)
                return False
            keep = len(live)  # merge the newest parts no larger than what is merged,
            size = chunk.count  # and the newest whenever one more part would be too many
            while keep and (live[keep - 1].rows <= size or keep >= MAX_PARTS):
                keep -= 1
                size += live[keep].rows
            new, kept = self._write_part(chunk.header, chunk.columns, live, keep)
        finally:
            journal.close()
            close_all(live)
        self._commit([*header.parts[:kept], new], header.generation + 1, (header.ident, chunk.end))
        return True

    def _part_path(self, part: str) -> str:
        return os.path.join(self.path, part)

    def _write_part(
        self,
        header: Sequence[str],
        columns: Sequence[Sequence[Cell]],
        live: Sequence[Part],
        keep: int,
    ) -> tuple[str, int]:
        """Write a part under a hidden name, sync it, and give it its name; returns the
        name and how many live parts stay (see ``PartCodec.write_part``)."""
        numbers = [int(m[1]) for n in os.listdir(self.path) if (m := self._part_name.fullmatch(n))]
        part = f"part-{max(numbers, default=0) + 1:010d}-{secrets.token_hex(4)}"
        part += self.codec.extension
        kept = place_part(  # written beside the directory: readers never see it unfinished
            temp_path(self.path, part),
            self._part_path(part),
            lambda temp: self.codec.write_part(temp, header, columns, live, keep),
        )
        return part, kept

    def _commit(self, parts: list[str], generation: int, continues: tuple[str, int] | None) -> None:
        """Replace the journal with an empty one listing ``parts``: the commit point."""
        header: dict[str, object] = {"_stet_journal": secrets.token_hex(8), "parts": parts}
        header["generation"] = generation
        if continues is not None:  # every record of that journal, up to end, is in the parts
            header["continues"] = {"journal": continues[0], "end": continues[1]}
        write_atomically(self.path + JOURNAL, (json.dumps(header) + "\n").encode())
        self._pending = None
        with contextlib.suppress(FileNotFoundError):  # an older stet's, now replaced
            os.remove(os.path.join(self.path, OLD_JOURNAL))
        self._remove_leftovers(parts)

    def _remove_leftovers(self, parts: list[str]) -> None:
        """Remove part files no journal lists: left by writers killed mid-compaction."""
        remove_unlisted(self.path, parts, self._part_name, self._old_temp)
