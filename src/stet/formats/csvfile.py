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
from .base import Chunk, DamagedStoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._values import Cell

__all__ = ["CsvFile", "encode_line"]


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


def encode_line(cells: Sequence[Cell]) -> bytes:
    """One CSV line, newline included."""
    texts = [_cell(c) if type(c) is str else repr(c) for c in cells]
    return (",".join(texts) + "\n").encode("utf-8", "surrogatepass")


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


def _columns(text: str, width: int, first_line: int, name: str) -> tuple[list[list[Cell]], int]:
    """The cells of complete lines, column by column, each line checked for ``width``."""
    if not text:
        return [[] for _ in range(width)], 0
    if '"' not in text and "\r" not in text:  # no quoting: split without the csv module
        count = text.count("\n")
        if text.count(",") == count * (width - 1):
            flat = text.replace("\n", ",").split(",")
            flat.pop()  # after the last newline
            columns: list[list[Cell]] = [flat[i::width] for i in range(width)]  # type: ignore[misc]
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


def _all_stamps(cells: list[Cell]) -> bool:
    """Whether every cell has the shape of a stet timestamp (checked without a loop).

    With the line and comma counts right, a line with a cell too many and another with
    one too few would still shift the cells between them; the last column would then
    hold key values, not timestamps.
    """
    texts: list[str] = cells  # type: ignore[assignment]  # a CSV cell is text
    return set(map(len, texts)) == {_STAMP_LENGTH} and set(map(itemgetter(10), texts)) == {"T"}


class CsvFile:
    """A CSV store file: header line, then one line per record; the cursor is a byte offset.

    A record is whole once its newline is written. A torn write is always the file's tail.
    """

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name  # how messages name the file
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None

    # -- identity of the file on disk (a rewrite replaces the inode)

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def end_if_same(self) -> int | None:
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
        self, cursor: int, header: Sequence[str], first_line: int, limit: int | None = None
    ) -> Chunk:
        fd = self._open()
        if fd is None:
            return Chunk([])
        data = _read_to_end(fd, cursor) if limit is None else _read_lines(fd, cursor, limit)
        if not data and cursor:
            return Chunk(list(header), end=cursor, first_line=first_line)
        cut = data.rfind(b"\n") + 1
        complete, tail = data[:cut], data[cut:]
        try:
            text = complete.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as error:
            raise DamagedStoreError(
                f"{self.name} is damaged: bytes at offset {cursor + error.start} are not UTF-8 "
                "text. Repair or remove that line by hand; stet changed nothing."
            ) from None
        if cursor == 0:
            first = text.find("\n") + 1
            header = next(csv.reader([text[:first]]), []) if first else []
            text, first_line = text[first:], first_line + 1
        columns, count = _columns(text, len(header), first_line, self.name)
        return Chunk(list(header), columns, count, cursor + cut, tail, first_line)

    def parse_tail(self, chunk: Chunk) -> Chunk | None:
        try:
            rows = list(csv.reader(io.StringIO(chunk.tail.decode("utf-8", "surrogatepass"))))
        except (UnicodeDecodeError, csv.Error):
            return None
        if len(rows) != 1 or len(rows[0]) != len(chunk.header):
            return None
        columns: list[list[Cell]] = [[cell] for cell in rows[0]]
        end = chunk.end + len(chunk.tail) + 1
        return Chunk(chunk.header, columns, 1, end, first_line=chunk.first_line + chunk.count)

    def finish_tail(self, chunk: Chunk) -> None:
        self._append(b"\n", fsync=False)

    def cut(self, cursor: int) -> None:
        fd = self._open()
        if fd is not None:
            os.ftruncate(fd, cursor)

    # -- writing (the caller holds the store's lock)

    def append(self, header: Sequence[str], values: dict[str, Cell], *, fsync: bool) -> int:
        line = encode_line([values.get(column, "") for column in header])
        return self._append(line, fsync=fsync)

    def _append(self, data: bytes, *, fsync: bool) -> int:
        fd = self._open()
        if fd is None:
            raise FileNotFoundError(self.path)
        written = os.write(fd, data)
        while written < len(data):  # a short write: finish it, never leave half a line
            written += os.write(fd, data[written:])
        if fsync:
            os.fsync(fd)
        return os.lseek(fd, 0, os.SEEK_CUR)

    def add_columns(self, header: Sequence[str]) -> bool:
        return False  # every line holds every column: only a rewrite adds one

    def rewrite(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        lines = [encode_line(header)]
        lines += map(encode_line, rows)
        write_atomically(self.path, b"".join(lines))
        self.close()
