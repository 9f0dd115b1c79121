"""The JSON format: a JSON array of records, one per line, appended in place.

The file is what ``json.load`` and ``pandas.read_json`` expect, after every append::

    [
    {"alpha": 0.1, "_stet_timestamp": "..."}
    ,{"alpha": 0.2, "_stet_timestamp": "..."}
    ]

Records are encoded as in JSON Lines. Every record after the first starts with its
comma, so that, as in the other line formats, a record is whole once its newline is
written. The cursor is the offset of the closing ``]``; an append is one ``pwrite`` of
the new record line and a new ``]`` line over the old one.

A write torn over the closing line leaves one of: a partial record (set aside, as in the
other formats), a whole record lacking its newline or lacking the ``]`` line (kept, and
the file finished), or a ``]`` lacking its newline (valid JSON as it is).
"""

from __future__ import annotations

import json
import os

from .base import Chunk, DamagedStoreError, Generation
from .jsonlines import encode_lines, records_to_chunk
from .linefile import LineFile, decode

_BLOCK = 1 << 20  # bytes per read

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .._values import Cell

__all__ = ["JsonArrayFile"]

_CLOSE = b"]\n"


def _pwrite(fd: int, data: bytes, offset: int) -> None:
    written = os.pwrite(fd, data, offset)
    while written < len(data):  # a short write: finish it
        written += os.pwrite(fd, data[written:], offset + written)


class JsonArrayFile(LineFile):
    """A ``.json`` store file: ``[``, one record per line, ``]``."""

    _FLAGS = os.O_RDWR  # written with ``pwrite`` at the cursor, not appended

    def __init__(self, path: str, name: str) -> None:
        super().__init__(path, name)
        self._end = 0  # the cursor after the last read or write: where ``]`` is
        self._opening = 2  # the length of the ``[`` line: records after it need a comma

    def generation(self) -> Generation | None:
        """Where ``]`` is when the file ends with ``]\\n`` (one stat); a torn or unfinished
        end gives another number, and ``read`` sees what is there."""
        look = super().generation()
        return None if look is None else Generation(look.end - len(_CLOSE), look.same)

    def _read_bytes(self, offset: int, max_rows: int | None) -> tuple[bytes, bool] | None:
        """The bytes from ``offset`` (all, or the first ``max_rows`` lines), and whether
        they reach the end of the file."""
        fd = self._open()
        if fd is None:
            return None
        parts = []
        lines = 0
        while True:
            part = os.pread(fd, _BLOCK, offset)
            offset += len(part)
            if max_rows is not None:
                count = part.count(b"\n")
                if lines + count > max_rows:  # the lines wanted end in this part
                    rest = part.split(b"\n", max_rows - lines)[-1]
                    parts.append(part[: len(part) - len(rest)])
                    return b"".join(parts), False
                lines += count
            parts.append(part)
            if len(part) < _BLOCK:
                return b"".join(parts), True

    def read(
        self,
        cursor: int,
        header: Sequence[str],
        max_rows: int | None = None,
        first_line: int = 1,
    ) -> Chunk:
        read = self._read_bytes(cursor, max_rows)
        if read is None:
            return Chunk([])
        data, at_eof = read
        start = cursor
        if cursor == 0:
            if at_eof and data.strip() in (b"", b"[]"):  # empty: stet starts it afresh
                self._end = 0
                return Chunk(list(header))
            opening = data.find(b"\n") + 1
            if data[:opening].strip() != b"[":
                raise self._not_layout('its first line is not "["')
            self._opening = opening
            data, start, first_line = data[opening:], opening, first_line + 1
        closed = data[:1] == b"]"
        close = 0 if closed else data.find(b"\n]") + 1
        if closed or close:  # the closing line: only white space may follow it
            body, tail = data[:close], data[close:]
            rest = None if at_eof else self._read_bytes(start + len(data), None)
            if rest is not None:
                tail += rest[0]
            if tail.strip() == b"]":
                tail = b""
        else:
            cut = data.rfind(b"\n") + 1
            body, tail = data[:cut], data[cut:]
            if at_eof and not tail and body.strip():  # no closing line: the last record
                cut = body.rstrip().rfind(b"\n") + 1  # waits for one, as a tail
                body, tail = body[:cut], body[cut:]
        text = decode(body, start, self.name)
        records = self._records(text, first_line, first=start == self._opening)
        end = self._end = start + len(body)
        chunk = records_to_chunk(records, header, end, first_line)
        chunk.tail = tail
        return chunk

    def _records(self, text: str, first_line: int, *, first: bool) -> list[dict[str, Any]]:
        """The records of whole lines; ``first``: the lines start right after ``[``."""
        if first or text[:1] == ",":
            try:
                records = json.loads("[" + (text if first else text[1:]) + "]")
            except ValueError:
                records = None
            if (
                isinstance(records, list)
                and len(records) == text.count("\n")
                and all(type(record) is dict for record in records)
            ):
                return records
        records = []  # blank lines, or a line at fault: line by line
        for number, line in enumerate(text.split("\n")[:-1], start=first_line):
            if not line.strip():
                continue
            comma = not first or bool(records)  # every record but the first starts with one
            has_comma = line[:1] == ","
            try:
                record = json.loads(line[has_comma:]) if has_comma == comma else None
            except ValueError:
                record = None
            if type(record) is not dict:
                if first and not records:
                    raise self._not_layout(f"line {number} is not one JSON object")
                raise DamagedStoreError(
                    f"{self.name} is damaged: line {number} is not a JSON object"
                    + (" after a comma" if comma else "")
                    + ". Repair or delete that line; stet changed nothing."
                )
            records.append(record)
        return records

    def _not_layout(self, problem: str) -> DamagedStoreError:
        return DamagedStoreError(
            f"{self.name} is not a .json store as stet writes it (a line '[', one record "
            f"per line, a line ']'): {problem}. Use another store path; to import these "
            "records, save them as a CSV (pandas.read_json(path).to_csv(csv_path, "
            "index=False)) and use stet.convert(csv_path, new_path). stet changed nothing."
        )

    def parse_tail(self, chunk: Chunk) -> Chunk | None:
        text = chunk.tail.rstrip()  # a record lacking its newline, or only its ``]`` line
        record_text = text[1:] if text[:1] == b"," else text
        if not record_text.startswith(b"{") or b"\n" in record_text:
            return None
        try:
            record = json.loads(record_text.decode("utf-8", "surrogatepass"))
        except ValueError:
            return None
        if type(record) is not dict:
            return None
        whole = records_to_chunk([record], chunk.header, 0, chunk.first_line + chunk.count)
        whole.end = chunk.end + len(text) + 1  # past its newline, where ``]`` goes
        return whole

    def _end_tail(self, record: Chunk) -> None:
        fd = self._open(write=True)
        if fd is None:
            raise FileNotFoundError(self.path)
        _pwrite(fd, b"\n" + _CLOSE, record.end - 1)
        os.ftruncate(fd, record.end + len(_CLOSE))  # white space after an unfinished record
        self._end = record.end

    def _cut(self, cursor: int) -> None:
        fd = self._open(write=True)
        if fd is None:
            return
        os.ftruncate(fd, cursor)
        _pwrite(fd, _CLOSE, cursor)  # valid JSON again
        self._end = cursor

    def append(
        self, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, fsync: bool
    ) -> int | None:
        if not rows:
            return self._end  # a record names its own members
        fd = self._open(write=True)
        if fd is None:
            raise FileNotFoundError(self.path)
        comma = "," if self._end > self._opening else ""
        text = encode_lines(header, rows).replace("\n", "\n,")
        data = (comma + text.removesuffix(",")).encode("utf-8", "surrogatepass")
        _pwrite(fd, data + _CLOSE, self._end)
        if fsync:
            os.fsync(fd)
        self._end += len(data)
        return self._end

    # ``read`` and ``append`` are its own (the closing line moves): these hooks go unused
    def parse_text(
        self, text: str, at_start: bool, header: Sequence[str], first_line: int
    ) -> Chunk:
        raise AssertionError("unused: read parses around the closing line")  # pragma: no cover

    def encode_rows(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
        raise AssertionError("unused: append writes at the cursor")  # pragma: no cover

    def encode_file(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
        text = encode_lines(header, rows).replace("\n", "\n,").removesuffix(",")
        return ("[\n" + text + "]\n").encode("utf-8", "surrogatepass")
