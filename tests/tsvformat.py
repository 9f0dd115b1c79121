"""A sixth file format, written in the tests: one module and one ``register`` line.

A ``.tsv`` store is a header line, then one line per record, cells separated by tabs.
Each cell is its JSON text (``"text"``, ``0.1``, ``3``): JSON escapes every tab and
newline inside a string, and gives a number back as the same number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import formats  # noqa: F401  (the tests' lists of stet's own formats are taken first)

import stet.formats
from stet.formats.base import Chunk, DamagedStoreError
from stet.formats.linefile import LineFile


def _line(cells: Sequence[Any]) -> str:
    return "\t".join(map(json.dumps, cells)) + "\n"


def _cells(line: str) -> list[Any] | None:
    try:
        cells = json.loads("[" + line.replace("\t", ",") + "]")  # no raw tab in a JSON text
    except ValueError:
        return None
    return cells if all(type(c) in (str, int, float) for c in cells) else None


class TsvFile(LineFile):
    """A ``.tsv`` store file: a header line, then one line of JSON cells per record."""

    def __init__(self, path: str, name: str) -> None:
        super().__init__(path, name)
        self._file_header: list[str] = []  # the header line, once read or written

    def parse_text(
        self, text: str, at_start: bool, header: Sequence[str], first_line: int
    ) -> Chunk:
        lines = [line for line in text.split("\n")[:-1] if line.strip()]  # blank: nothing
        if at_start and lines:
            header, lines, first_line = _cells(lines[0]) or [], lines[1:], first_line + 1
            self._file_header = list(header)
        rows = []
        for number, line in enumerate(lines, start=first_line):
            cells = _cells(line)
            if cells is None or len(cells) != len(header):
                raise DamagedStoreError(
                    f"{self.name} is damaged: line {number}; stet changed nothing"
                )
            rows.append(cells)
        columns = [list(column) for column in zip(*rows, strict=True)] or [[] for _ in header]
        return Chunk(list(header), columns, len(rows), first_line=first_line)

    def parse_tail(self, chunk: Chunk) -> Chunk | None:
        cells = _cells(chunk.tail.decode("utf-8", "surrogatepass"))
        if cells is None or len(cells) != len(chunk.header):
            return None
        return self._whole_tail(chunk, Chunk(chunk.header, [[c] for c in cells], 1))

    def encode_rows(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes | None:
        if list(header) != self._file_header:
            return None  # a new column: the Store rewrites the file
        return "".join(map(_line, rows)).encode("utf-8", "surrogatepass")

    def encode_file(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
        self._file_header = list(header)
        return "".join(map(_line, [header, *rows])).encode("utf-8", "surrogatepass")


stet.formats.register(".tsv", TsvFile)
