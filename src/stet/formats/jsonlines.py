"""The JSON Lines format: one JSON object per line, appended, nothing more.

Each record is an object of its cells: numbers as JSON numbers, every other value as
its stet text (``"None"``, ``"(1, 2)"``), and no member for a column the record lacks.
There is no header line: the columns are the members the records hold, in the order
they first appear.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring

from .._values import cell_from_json, text_of_cell
from .base import Chunk, DamagedStoreError
from .linefile import LineFile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .._values import Cell

__all__ = ["JsonLinesFile", "encode_lines", "encode_record", "records_to_chunk"]

_CELL_TYPES = frozenset({str, int, float})


_quoted: dict[str, str] = {}


def _member(column: str) -> str:
    """``"column": ``, the start of a member (memoized: a store has few columns)."""
    try:
        return _quoted[column]
    except KeyError:
        _quoted[column] = text = encode_basestring(column) + ": "
        return text


def encode_record(header: Sequence[str], values: dict[str, Cell]) -> str:
    """One record as a JSON object, its members in ``header`` order.

    The same text as ``json.dumps(..., ensure_ascii=False)``, several times faster: a
    cell is a string or a finite number, whose cell text is its JSON text.
    """
    members = []
    for column in header:
        cell = values.get(column, "")
        if cell != "":
            text = encode_basestring(cell) if type(cell) is str else text_of_cell(cell)
            members.append(_member(column) + text)
    return "{" + ", ".join(members) + "}"


def parse_lines(lines: list[str], first_line: int, name: str) -> list[dict[str, Any]]:
    """The objects of JSON lines (blank lines skipped), or an error naming the bad line."""
    lines = [line for line in lines if line.strip()] if "" in lines else lines
    try:
        records: list[dict[str, Any]] = json.loads("[" + ",".join(lines) + "]")
        if all(type(record) is dict for record in records):
            return records
    except ValueError:
        pass
    for number, line in enumerate(lines, start=first_line):  # find the line at fault
        try:
            record = json.loads(line) if line.strip() else {}
        except ValueError:
            record = None
        if type(record) is not dict:
            raise DamagedStoreError(
                f"{name} is damaged: line {number} is not a JSON object. Repair or delete "
                "that line; stet changed nothing."
            )
    raise AssertionError("unreachable: every line parsed alone")  # pragma: no cover


def records_to_chunk(
    records: list[dict[str, Any]], header: Sequence[str], end: int, first_line: int
) -> Chunk:
    """Records as columns; members not in ``header`` become new columns at its end."""
    columns_now = list(header)
    known = set(columns_now)
    for record in records:
        if not known.issuperset(record):
            for column in record:
                if column not in known:
                    known.add(column)
                    columns_now.append(column)
    columns: list[list[Cell]] = []
    for column in columns_now:
        cells = [record.get(column, "") for record in records]
        if not _CELL_TYPES.issuperset(map(type, cells)):  # null, true, [1, 2] written by hand
            cells = [cell_from_json(cell) for cell in cells]
        columns.append(cells)
    return Chunk(columns_now, columns, len(records), end, first_line=first_line)


class JsonLinesFile(LineFile):
    """A ``.jsonl`` store file: one JSON object per record, one record per line."""

    def parse_text(
        self, text: str, at_start: bool, header: Sequence[str], first_line: int
    ) -> Chunk:
        lines = text.split("\n")
        lines.pop()  # after the last newline
        records = parse_lines(lines, first_line, self.name)
        return records_to_chunk(records, header, 0, first_line)

    def parse_tail(self, chunk: Chunk) -> Chunk | None:
        try:
            record = json.loads(chunk.tail.decode("utf-8", "surrogatepass"))
        except ValueError:
            return None
        if type(record) is not dict:
            return None
        return self._whole_tail(chunk, records_to_chunk([record], chunk.header, 0, 0))

    def encode_rows(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
        return encode_lines(header, rows).encode("utf-8", "surrogatepass")

    def encode_file(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
        return self.encode_rows(header, rows)  # a record names its own members


def encode_lines(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """The JSON lines of these rows, each ending in its newline."""
    return "".join(
        encode_record(header, dict(zip(header, row, strict=True))) + "\n" for row in rows
    )
