"""What the line-based formats share: a file of records, one per line, with a cursor
that is a byte offset.

A record is whole once its newline is written, appended with one ``write`` under the
store's lock, so a torn write is always the file's tail. A rewrite replaces the file
(a new inode), which ``end_if_same`` notices with one ``stat``.

A file this process may not write is opened for reading only; a write opens it again
for writing (and fails there, as it should, if it still may not).
"""

from __future__ import annotations

import os

from .._files import is_denied
from .base import Chunk, DamagedStoreError
from .filesite import FileSite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["LineFile", "decode"]


def decode(data: bytes, offset: int, name: str) -> str:
    """UTF-8 text of whole lines, or a clear error naming where they are not text."""
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as error:
        raise DamagedStoreError(
            f"{name} is damaged: bytes at offset {offset + error.start} are not UTF-8 "
            "text. Repair or remove that line by hand; stet changed nothing."
        ) from None


class LineFile:
    """An open-on-demand file descriptor, appends, and the tail of a line file."""

    _FLAGS = os.O_RDWR | os.O_APPEND  # every write lands at the end, whole

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name  # how messages name the file
        self.site = FileSite(self.path, name)  # lock, owner, claims beside it
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._read_only = False  # ``_fd`` was opened for reading only

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

    def settle(self) -> None:
        pass  # every record is complete when it is appended

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._identity = None

    def _read(self, offset: int, limit: int | None) -> tuple[bytes, bytes] | None:
        """The whole lines after ``offset`` and the bytes after the last newline."""
        fd = self._open()
        if fd is None:
            return None
        if limit is None:
            parts: list[bytes] = []
            end = offset
            while part := os.pread(fd, 1 << 20, end):
                parts.append(part)
                end += len(part)
            data = b"".join(parts)
        else:  # about ``limit`` bytes, more if needed to hold one whole line
            data = os.pread(fd, limit, offset)
            while len(data) >= limit and b"\n" not in data:
                more = os.pread(fd, limit, offset + len(data))
                if not more:
                    break
                data += more
        cut = data.rfind(b"\n") + 1
        return data[:cut], data[cut:]

    def read_from(
        self, cursor: int, header: Sequence[str], first_line: int, limit: int | None = None
    ) -> Chunk:
        """The whole lines after ``cursor``, parsed by the format (``parse_text``)."""
        read = self._read(cursor, limit)
        if read is None:
            return Chunk([])
        complete, tail = read
        text = decode(complete, cursor, self.name)
        chunk = self.parse_text(text, cursor == 0, header, first_line)
        chunk.end, chunk.tail = cursor + len(complete), tail
        return chunk

    def parse_text(
        self, text: str, at_start: bool, header: Sequence[str], first_line: int
    ) -> Chunk:
        """The records of whole lines of text (``at_start``: the file's first lines)."""
        raise NotImplementedError

    def _whole_tail(self, chunk: Chunk, record: Chunk) -> Chunk:
        """``record``, parsed from ``chunk.tail``, placed where it ends once finished."""
        record.end = chunk.end + len(chunk.tail) + 1
        record.first_line = chunk.first_line + chunk.count
        return record

    def finish_tail(self, chunk: Chunk) -> None:
        self._append(b"\n", fsync=False)

    def cut(self, cursor: int) -> None:
        fd = self._open(write=True)
        if fd is not None:
            os.ftruncate(fd, cursor)

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
