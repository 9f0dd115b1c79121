"""The CSV format: moves rows of text cells to and from a ``.csv`` file, nothing more.

A record is one line ending in ``\\n``, appended with a single ``write`` to a file opened
with ``O_APPEND``. Cells never hold a raw newline (the value layer quotes such strings),
so every complete record ends at a newline and a torn write is always the file's tail.
"""

from __future__ import annotations

import csv
import io
import os
from operator import itemgetter

from .._files import write_atomically

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["Chunk", "CsvFile", "DamagedStoreError", "encode_line", "write_atomically"]


class DamagedStoreError(ValueError):
    """A store file stet cannot read; nothing in it was changed."""


class Chunk:
    """What a read from an offset found: complete records, column by column."""

    __slots__ = ("columns", "count", "end", "first_line", "header", "tail")

    def __init__(
        self,
        header: list[str] | None,  # set when the read started at offset 0
        columns: list[list[str]] | None = None,  # one list of cells per column
        count: int = 0,  # how many records
        end: int = 0,  # offset just past the last complete line
        tail: bytes = b"",  # bytes after the last newline: a torn or unterminated line
        first_line: int = 1,  # line number (1-based) of the first record
    ) -> None:
        self.header = header
        self.columns = columns if columns is not None else []
        self.count = count
        self.end = end
        self.tail = tail
        self.first_line = first_line

    @property
    def rows(self) -> list[list[str]]:
        return [list(row) for row in zip(*self.columns, strict=True)]


def _cell(text: str) -> str:
    if text and (
        "," in text
        or '"' in text
        or "\n" in text
        or "\r" in text
        or text[0].isspace()
        or text[-1].isspace()
    ):
        return '"' + text.replace('"', '""') + '"'
    return text


def encode_line(cells: Sequence[str]) -> bytes:
    """One CSV line, newline included."""
    return (",".join([_cell(c) for c in cells]) + "\n").encode("utf-8", "surrogatepass")


def _read_to_end(fd: int, offset: int) -> bytes:
    parts = []
    while part := os.pread(fd, 1 << 20, offset):
        parts.append(part)
        offset += len(part)
    return b"".join(parts)


def _read_lines(fd: int, offset: int, limit: int) -> bytes:
    """About ``limit`` bytes from ``offset``, more if needed to hold one whole line."""
    data = os.pread(fd, limit, offset)
    while len(data) >= limit and b"\n" not in data:
        more = os.pread(fd, limit, offset + len(data))
        if not more:
            break
        data += more
    return data


def _columns(text: str, width: int, first_line: int, name: str) -> tuple[list[list[str]], int]:
    """The cells of complete lines, column by column, each line checked for ``width``."""
    if not text:
        return [[] for _ in range(width)], 0
    if '"' not in text and "\r" not in text:  # no quoting: split without the csv module
        count = text.count("\n")
        if text.count(",") == count * (width - 1):
            flat = text.replace("\n", ",").split(",")
            flat.pop()  # after the last newline
            columns = [flat[i::width] for i in range(width)]
            if _all_stamps(columns[-1]):  # every line ends in its timestamp: none is misread
                return columns, count
    # Quoting, blank lines, or a line that does not add up: read line by line.
    reader = csv.reader(io.StringIO(text))
    rows = []
    for row in reader:
        if not row:
            continue  # a blank line carries nothing
        if len(row) != width:
            raise DamagedStoreError(
                f"{name} is damaged: line {first_line + reader.line_num - 1} has {len(row)} "
                f"cells where the header has {width}. Repair or delete that line; stet "
                "changed nothing."
            )
        rows.append(row)
    columns = [list(column) for column in zip(*rows, strict=True)]
    return columns or [[] for _ in range(width)], len(rows)


_STAMP_LENGTH = len("2026-03-12T11:48:59.428485+00:00")


def _all_stamps(cells: list[str]) -> bool:
    """Whether every cell has the shape of a stet timestamp (checked without a loop).

    With the line and comma counts right, a line with a cell too many and another with
    one too few would still shift the cells between them; the last column would then
    hold key values, not timestamps.
    """
    return set(map(len, cells)) == {_STAMP_LENGTH} and set(map(itemgetter(10), cells)) == {"T"}


class CsvFile:
    """A CSV store file: header line, then one line per record."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name  # how messages name the file
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None

    # -- identity of the file on disk (a rewrite replaces the inode)

    def current_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def size_if_same(self) -> int | None:
        """The file's size when the path still names the open file, else None (one stat)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        if (st.st_dev, st.st_ino) != self._identity:
            return None
        return st.st_size

    def _open(self) -> int | None:
        if self._fd is not None:
            return self._fd
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            self._identity = None
            return None
        st = os.fstat(fd)
        self._fd, self._identity = fd, (st.st_dev, st.st_ino)
        return fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._identity = None

    # -- reading

    def read_from(
        self, offset: int, first_line: int, width: int, limit: int | None = None
    ) -> Chunk:
        """Read the complete lines after ``offset`` (the header too when ``offset`` is 0).

        ``width`` is the header's cell count, for reads after the header. With ``limit``,
        read about that many bytes (at least one whole line): call again from ``end``.
        """
        fd = self._open()
        if fd is None:
            return Chunk(header=None if offset else [], end=0)
        data = _read_to_end(fd, offset) if limit is None else _read_lines(fd, offset, limit)
        if not data and offset:
            return Chunk(header=None, end=offset, first_line=first_line)
        cut = data.rfind(b"\n") + 1
        complete, tail = data[:cut], data[cut:]
        try:
            text = complete.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as error:
            raise DamagedStoreError(
                f"{self.name} is damaged: bytes at offset {offset + error.start} are not UTF-8 "
                "text. Repair or remove that line by hand; stet changed nothing."
            ) from None
        header = None
        if offset == 0:
            first = text.find("\n") + 1
            header = next(csv.reader([text[:first]]), []) if first else []
            text, width, first_line = text[first:], len(header), first_line + 1
        columns, count = _columns(text, width, first_line, self.name)
        return Chunk(header, columns, count, offset + cut, tail, first_line)

    @staticmethod
    def parse_line(data: bytes) -> list[str] | None:
        """The cells of one line, or None when it is not valid text."""
        try:
            rows = list(csv.reader(io.StringIO(data.decode("utf-8", "surrogatepass"))))
        except (UnicodeDecodeError, csv.Error):
            return None
        return rows[0] if len(rows) == 1 else None

    # -- writing (the caller holds the store's lock)

    def append(self, lines: bytes, *, fsync: bool) -> None:
        fd = self._open()
        if fd is None:
            raise FileNotFoundError(self.path)
        written = os.write(fd, lines)
        while written < len(lines):  # a short write: finish it, never leave half a line
            written += os.write(fd, lines[written:])
        if fsync:
            os.fsync(fd)

    def truncate(self, size: int) -> None:
        fd = self._open()
        if fd is not None:
            os.ftruncate(fd, size)

    def rewrite(self, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        """Replace the whole file atomically."""
        lines = [encode_line(header)]
        lines += map(encode_line, rows)
        write_atomically(self.path, b"".join(lines))
        self.close()
