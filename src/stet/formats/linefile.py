"""What the line-based formats share: a file of records, one per line, with a cursor
that is a byte offset.

A record is whole once its newline is written, appended with one ``write`` under the
store's lock, so a torn write is always the file's tail: the line formats repair it
themselves (:class:`~stet.formats.base.TornTails`). A rewrite replaces the file (a new
inode), which ``generation`` notices with one ``stat``.

A line format implements four hooks: ``parse_text`` and ``parse_tail`` (reading),
``encode_rows`` and ``encode_file`` (writing). A file this process may not write is
opened for reading only; a write opens it again for writing (and fails there, as it
should, if it still may not).
"""

from __future__ import annotations

import abc
import os

from .._files import is_denied, write_atomically
from .base import Chunk, DamagedStoreError, Generation, StoreFormat, TornTails
from .filesite import FileSite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .._values import Cell

__all__ = ["LineFile", "decode", "set_aside"]

_BLOCK = 1 << 20  # bytes per read


def decode(data: bytes, offset: int, name: str) -> str:
    """UTF-8 text of whole lines, or a clear error naming where they are not text."""
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as error:
        raise DamagedStoreError(
            f"{name} is damaged: bytes at offset {offset + error.start} are not UTF-8 "
            "text. Repair or remove that line by hand; stet changed nothing."
        ) from None


def set_aside(path: str, tail: bytes) -> str:
    """Keep a torn last record in ``<path>.torn``; returns that file's name."""
    torn_path = f"{path}.torn"
    with open(torn_path, "ab") as torn:
        torn.write(tail + b"\n")
    return os.path.basename(torn_path)


class LineFile(StoreFormat, TornTails):
    """An open-on-demand file descriptor, appends, and the tail of a line file."""

    _FLAGS = os.O_RDWR | os.O_APPEND  # every write lands at the end, whole

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name  # how messages name the file
        self.site = FileSite(self.path, name)  # lock, owner, claims beside it
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._read_only = False  # ``_fd`` was opened for reading only

    # -- the hooks of a line format

    @abc.abstractmethod
    def parse_text(
        self, text: str, at_start: bool, header: Sequence[str], first_line: int
    ) -> Chunk:
        """The records of whole lines of text (``at_start``: the file's first lines)."""

    @abc.abstractmethod
    def parse_tail(self, chunk: Chunk) -> Chunk | None:
        """The one record in ``chunk.tail``, when it is whole but lacks its newline."""

    @abc.abstractmethod
    def encode_rows(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes | None:
        """The lines appending ``rows`` adds; None when ``header`` needs a rewrite."""

    @abc.abstractmethod
    def encode_file(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
        """The whole file holding ``rows``."""

    # -- StoreFormat

    def generation(self) -> Generation | None:
        """The file's size, and whether the path still names the open file (one stat)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return Generation(st.st_size, (st.st_dev, st.st_ino) == self._identity)

    def read(
        self,
        cursor: int,
        header: Sequence[str],
        max_rows: int | None = None,
        first_line: int = 1,
    ) -> Chunk:
        """The whole lines after ``cursor``, parsed by the format (``parse_text``)."""
        read = self._read(cursor, max_rows)
        if read is None:
            return Chunk([])
        complete, tail = read
        text = decode(complete, cursor, self.name)
        chunk = self.parse_text(text, cursor == 0, header, first_line)
        chunk.end, chunk.tail = cursor + len(complete), tail
        return chunk

    def append(
        self, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, fsync: bool
    ) -> int | None:
        data = self.encode_rows(header, rows)
        if data is None:
            return None
        return self._append(data, fsync=fsync)

    def rewrite(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        write_atomically(self.path, self.encode_file(header, rows))
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._identity = None

    # -- TornTails

    def finish_tail(self, chunk: Chunk, whole: Callable[[Chunk], bool]) -> Chunk | None:
        record = self.parse_tail(chunk)
        if record is None or not whole(record):
            return None
        self._end_tail(record)
        return record

    def set_aside_tail(self, chunk: Chunk) -> str:
        where = set_aside(self.path, chunk.tail)
        self._cut(chunk.end)
        return where

    # -- for the formats

    def _whole_tail(self, chunk: Chunk, record: Chunk) -> Chunk:
        """``record``, parsed from ``chunk.tail``, placed where it ends once finished."""
        record.end = chunk.end + len(chunk.tail) + 1
        record.first_line = chunk.first_line + chunk.count
        return record

    def _end_tail(self, record: Chunk) -> None:
        """Write the ending of the record ``parse_tail`` found."""
        self._append(b"\n", fsync=False)

    def _cut(self, cursor: int) -> None:
        """Drop everything after ``cursor`` (a torn tail, already set aside)."""
        fd = self._open(write=True)
        if fd is not None:
            os.ftruncate(fd, cursor)

    def _open(self, write: bool = False) -> int | None:
        """The file's descriptor (None: no file); for reading only when this process
        may not write it, unless ``write``."""
        if self._fd is not None:
            if not (write and self._read_only):
                return self._fd
            self.close()
        read_only = False
        try:
            try:
                fd = os.open(self.path, self._FLAGS)
            except OSError as error:
                if write or not is_denied(error):
                    raise
                fd, read_only = os.open(self.path, os.O_RDONLY), True
        except FileNotFoundError:
            self._identity = None
            return None
        st = os.fstat(fd)
        self._fd, self._identity, self._read_only = fd, (st.st_dev, st.st_ino), read_only
        return fd

    def _read(self, offset: int, max_rows: int | None) -> tuple[bytes, bytes] | None:
        """The whole lines after ``offset`` (all, or the first ``max_rows``) and the
        bytes after the last newline (none when it stopped at ``max_rows``)."""
        fd = self._open()
        if fd is None:
            return None
        parts: list[bytes] = []
        lines = 0
        end = offset
        while part := os.pread(fd, _BLOCK, end):
            end += len(part)
            if max_rows is not None:
                count = part.count(b"\n")
                if lines + count >= max_rows:  # the last of the lines wanted is in this part
                    rest = part.split(b"\n", max_rows - lines)[-1]
                    parts.append(part[: len(part) - len(rest)])
                    return b"".join(parts), b""
                lines += count
            parts.append(part)
        data = b"".join(parts)
        cut = data.rfind(b"\n") + 1
        return data[:cut], data[cut:]

    def _append(self, data: bytes, *, fsync: bool) -> int:
        fd = self._open(write=True)
        if fd is None:
            raise FileNotFoundError(self.path)
        written = os.write(fd, data)
        while written < len(data):  # a short write: finish it, never leave half a line
            written += os.write(fd, data[written:])
        if fsync:
            os.fsync(fd)
        return os.lseek(fd, 0, os.SEEK_CUR)
