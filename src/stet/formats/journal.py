"""The journal of a journaled store: JSON Lines whose first line is a header.

The header names the live part files, the journal's generation, and the journal it
continues (the one a compaction replaced, and its length). The records after it are
what was appended since the parts were written, one JSON object per line, as in the
JSON Lines format. See ``stet.formats.journaled``.
"""

from __future__ import annotations

import json
import os

from .base import DamagedStoreError
from .jsonlines import JsonLinesFile

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

__all__ = ["GENERATION", "JOURNAL", "OLD_JOURNAL", "Header", "Journal", "journal_path"]

JOURNAL = ".journal"  # the journal of ``runs.parquet`` is ``runs.parquet.journal``
OLD_JOURNAL = "_stet_journal.jsonl"  # where an older stet kept it: inside the directory
GENERATION = 1 << 40  # cursor = generation * GENERATION + offset in that journal


def journal_path(path: str) -> str:
    """The journal of the store at ``path`` (``runs.parquet.journal``, or an older
    stet's ``runs.parquet/_stet_journal.jsonl`` until its first compaction)."""
    beside, inside = path + JOURNAL, os.path.join(path, OLD_JOURNAL)
    return inside if not os.path.exists(beside) and os.path.exists(inside) else beside


class Header:
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
        return self.generation * GENERATION + offset


class Journal(JsonLinesFile):
    """The journal: JSON Lines whose first line is a header naming parts like ``part``."""

    def __init__(self, path: str, store_name: str, part: re.Pattern[str]) -> None:
        inside = os.path.basename(path) == OLD_JOURNAL
        name = os.path.join(store_name, OLD_JOURNAL) if inside else store_name + JOURNAL
        super().__init__(path, name)
        self._part = part

    def is_open(self) -> bool:
        return self._fd is not None

    def size(self) -> int:
        return os.fstat(self._fd).st_size if self._fd is not None else -1

    def end_if_same(self) -> int | None:
        """The journal's size while the path still names the open journal, else None."""
        look = self.generation()
        return look.end if look is not None and look.same else None

    def cut(self, offset: int) -> None:
        """Drop the journal's bytes after ``offset`` (a torn tail, set aside)."""
        self._cut(offset)

    def head(self, end: int) -> bytes:
        """The journal's bytes before ``end``."""
        fd = self._open()
        return os.pread(fd, end, 0) if fd is not None else b""

    def read_header(self) -> Header | None:
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
                and all(isinstance(p, str) and self._part.fullmatch(p) for p in parts)
                and type(generation) is int
                and generation > 0
            ):
                after = None
                if isinstance(continues, dict) and type(continues.get("end")) is int:
                    after = (str(continues.get("journal")), continues["end"])
                return Header(end + 1, ident, generation, parts, after)
        raise DamagedStoreError(
            f"{self.name} is damaged: its first line is not the header naming the "
            "store's part files. Restore it from a copy; stet changed nothing."
        )
