"""The CSV format: moves rows of text cells to and from a ``.csv`` file, nothing more.

A header line, then one line per record. Cells never hold a raw newline (the value
layer quotes such strings), so every complete record ends at a newline.
"""

from __future__ import annotations

import csv
import io
import threading

from .._columns import all_stamps
from .._report import plural
from .._values import text_of_cell
from .base import Chunk, DamagedStoreError
from .linefile import LineFile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _csv import Reader
    from collections.abc import Callable, Sequence
    from typing import TypeVar

    T = TypeVar("T")

    from .._values import Cell

__all__ = ["CsvFile", "encode_line"]

_LIMIT_MAX = 2**31 - 1  # the largest ``csv.field_size_limit`` every platform takes (a C long)
_limit_lock = threading.Lock()


def _parse(text: str, take: Callable[[Reader], T]) -> T:
    """``take`` applied to a ``csv.reader`` of ``text``, whatever the length of its cells.

    A cell may be longer than the ``csv`` module's field limit (131,072 characters by
    default; a long tuple or array is). That limit is process-wide and belongs to the
    user's own csv code too, so stet leaves it alone unless a cell needs more: then it
    is raised to the length of this text for this one parse, under a lock, and put back
    afterwards (unless someone else changed it meanwhile).
    """
    try:
        return take(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        if "field limit" not in str(error):
            raise
    with _limit_lock:
        wanted = min(len(text) + 1, _LIMIT_MAX)
        before = csv.field_size_limit()
        if before >= wanted:  # raised meanwhile by someone else: enough already
            return take(csv.reader(io.StringIO(text)))
        csv.field_size_limit(wanted)
        try:
            return take(csv.reader(io.StringIO(text)))
        finally:
            if csv.field_size_limit() == wanted:
                csv.field_size_limit(before)


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
    texts = [_cell(c) if type(c) is str else text_of_cell(c) for c in cells]
    return (",".join(texts) + "\n").encode("utf-8", "surrogatepass")


def _columns(text: str, width: int, first_line: int, name: str) -> tuple[list[list[Cell]], int]:
    """The cells of complete lines, column by column, each line checked for ``width``."""
    if not text:
        return [[] for _ in range(width)], 0
    if '"' not in text and "\r" not in text:  # no quoting: split without the csv module
        count = text.count("\n")
        if text.count(",") == count * (width - 1):
            flat = text.replace("\n", ",").split(",")
            flat.pop()  # after the last newline
            texts = [flat[i::width] for i in range(width)]
            # Every line ends in its timestamp: none is misread. (With the line and comma
            # counts right, a line with a cell too many and another with one too few would
            # still shift the cells between them; the last column would then hold key
            # values, not timestamps.)
            if all_stamps(texts[-1]):
                columns: list[list[Cell]] = texts  # type: ignore[assignment]
                return columns, count
    # Quoting, blank lines, or a line that does not add up: read line by line.
    rows = _parse(text, lambda reader: _rows(reader, width, first_line, name))
    columns = [list(column) for column in zip(*rows, strict=True)]
    return columns or [[] for _ in range(width)], len(rows)


def _rows(reader: Reader, width: int, first_line: int, name: str) -> list[list[str]]:
    """The rows of a CSV reader, blank lines left out, each checked for ``width``."""
    rows = []
    for row in reader:
        if not row:
            continue  # a blank line carries nothing
        if len(row) != width:
            number = first_line + reader.line_num - 1
            raise DamagedStoreError(
                f"{name} is damaged: line {number} has {plural(len(row), 'cell')} where the "
                f"header has {width}. Repair or delete that line; stet changed nothing."
            )
        rows.append(row)
    return rows


class CsvFile(LineFile):
    """A CSV store file: header line, then one line per record."""

    def __init__(self, path: str, name: str) -> None:
        super().__init__(path, name)
        self._file_header: list[str] = []  # the header line, once read or written

    def parse_text(
        self, text: str, at_start: bool, header: Sequence[str], first_line: int
    ) -> Chunk:
        if at_start:
            first = text.find("\n") + 1
            header = _parse(text[:first], lambda reader: next(reader, [])) if first else []
            text, first_line = text[first:], first_line + 1
            self._file_header = list(header)
        columns, count = _columns(text, len(header), first_line, self.name)
        return Chunk(list(header), columns, count, first_line=first_line)

    def parse_tail(self, chunk: Chunk) -> Chunk | None:
        try:
            rows = _parse(chunk.tail.decode("utf-8", "surrogatepass"), list)
        except (UnicodeDecodeError, csv.Error):
            return None
        if len(rows) != 1 or len(rows[0]) != len(chunk.header):
            return None
        columns: list[list[Cell]] = [[cell] for cell in rows[0]]
        return self._whole_tail(chunk, Chunk(chunk.header, columns, 1))

    def encode_rows(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes | None:
        if list(header) != self._file_header:
            return None  # every line holds every column: only a rewrite adds one
        return b"".join(map(encode_line, rows))

    def encode_file(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
        self._file_header = list(header)
        return b"".join([encode_line(header), *map(encode_line, rows)])
