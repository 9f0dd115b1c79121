"""The Parquet format: a journaled store (``stet.formats.journaled``) whose parts are
Parquet files; this module is its part codec.

``runs.parquet`` is a directory of Parquet part files and nothing else, so any Parquet
reader reads it as a dataset (``pandas.read_parquet``, pyarrow, polars, DuckDB's
``read_parquet('runs.parquet/**')``); records appended since the last compaction wait
in the journal ``runs.parquet.journal`` beside it. The parts hold records in typed
columns: int64, float64, or string where text or a mix of text and numbers occurs
(numbers as their text, which stet reads back as the same numbers); null where a record
lacks the column. Every part has the same columns and types: when new records add a
column or no longer fit a column's type, the compaction merges every part into one.
"""

from __future__ import annotations

import array
from itertools import accumulate

import pyarrow  # type: ignore[import-untyped]
import pyarrow.parquet  # type: ignore[import-untyped]

from .._storedcells import foreign_cell, utf8_text
from .._values import text_of_cell
from .base import DamagedStoreError
from .journal import journal_path
from .journaled import COMPACT_AT, FLUSH_AFTER, MAX_PARTS, JournaledDir
from .parts import Part, PartCodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    from .._values import Cell

__all__ = ["COMPACT_AT", "FLUSH_AFTER", "MAX_PARTS", "ParquetCodec", "ParquetDir", "journal_path"]

_TYPES = (pyarrow.int64(), pyarrow.float64(), pyarrow.string())  # a column widens left to right
_TEXT = 2  # the rank of string in _TYPES


class ParquetPart(Part):
    """One open Parquet part: its footer read, its row groups read a batch at a time."""

    def __init__(self, path: str, name: str) -> None:
        self._part = path.rsplit("/", 1)[-1]
        self._name = name
        self._source = pyarrow.OSFile(path)
        try:
            self.file = pyarrow.parquet.ParquetFile(self._source)  # its footer
        except pyarrow.ArrowInvalid as error:
            self._source.close()
            raise _unreadable(name, self._part, error) from None
        except BaseException:
            self._source.close()
            raise
        self.schema = self.file.schema_arrow
        self.rows = self.file.metadata.num_rows
        self.columns = list(self.schema.names)

    def batches(self, size: int) -> Iterator[tuple[dict[str, list[Cell]], int]]:
        try:
            for batch in self.file.iter_batches(batch_size=size):
                cells = [_cells(column) for column in batch.columns]
                yield dict(zip(batch.schema.names, cells, strict=True)), batch.num_rows
        except pyarrow.ArrowInvalid as error:
            raise _unreadable(self._name, self._part, error) from None

    def table(self) -> Any:
        return self.file.read()

    def close(self) -> None:
        self._source.close()


class ParquetCodec(PartCodec):
    """Parquet part files: typed columns (int64, float64, string), zstd-compressed."""

    extension = ".parquet"
    reader = "pandas.read_parquet(path)"

    def read_part(self, path: str, name: str) -> Part:
        return ParquetPart(path, name)

    def write_part(
        self,
        path: str,
        header: Sequence[str],
        columns: Sequence[Sequence[Cell]],
        live: Sequence[Part],
        keep: int,
    ) -> int:
        schemas = [part.schema for part in live if isinstance(part, ParquetPart)]
        ranks: dict[str, int] = {}  # what every part's column must be
        for schema in schemas:
            for field in schema:
                ranks[field.name] = max(ranks.get(field.name, -1), _type_rank(field.type))
        before = dict(ranks)
        for column, cells in zip(header, columns, strict=True):
            if _has_values(cells):
                ranks[column] = max(ranks.get(column, -1), _rank(cells))
        ranks = {column: max(rank, 0) for column, rank in ranks.items()}  # null: int64
        target = pyarrow.schema([(c, _TYPES[rank]) for c, rank in ranks.items()])
        if not (ranks == before and all(s.equals(target) for s in schemas)):
            keep = 0  # a new column or type: every part takes the new schema
        position = {column: i for i, column in enumerate(header)}
        arrays = [_array(columns[position[c]], rank) for c, rank in ranks.items()]
        merged = [p for p in live[keep:] if isinstance(p, ParquetPart)]
        tables = [_conform(part.table(), target) for part in merged]
        tables.append(pyarrow.Table.from_arrays(arrays, schema=target))
        pyarrow.parquet.write_table(pyarrow.concat_tables(tables), path, compression="zstd")
        return keep


class ParquetDir(JournaledDir):
    """A ``.parquet`` store: a directory of Parquet parts and a JSON Lines journal."""

    codec = ParquetCodec()


def _unreadable(name: str, part: str, error: Exception) -> DamagedStoreError:
    return DamagedStoreError(
        f"{name} is damaged: its part file {part} is not readable Parquet ({error}). "
        "Restore it from a copy; stet changed nothing."
    )


# -- cells and columns


def _cells(column: Any) -> list[Cell]:
    """A Parquet column's cells: numbers stay numbers, strings are cells, null is ""."""
    values: list[Any] = column.to_pylist()
    kind = column.type
    if not (
        pyarrow.types.is_integer(kind)
        or pyarrow.types.is_floating(kind)
        or pyarrow.types.is_string(kind)
        or pyarrow.types.is_large_string(kind)
    ):
        return [foreign_cell(value) for value in values]  # a file edited by hand
    if column.null_count:
        return ["" if value is None else value for value in values]
    return values


def _has_values(cells: Sequence[Cell]) -> bool:
    return cells.count("") < len(cells)


def _rank(cells: Sequence[Cell]) -> int:
    """The narrowest type of ``_TYPES`` that holds these cells ("" is null)."""
    kinds = set(map(type, cells))
    if str in kinds and any(type(c) is str and c for c in cells):
        return _TEXT
    return 0 if kinds <= {int, str} else 1


def _type_rank(kind: Any) -> int:
    """Where a Parquet column's type stands among _TYPES (-1: only nulls)."""
    if pyarrow.types.is_null(kind):
        return -1
    if pyarrow.types.is_integer(kind):
        return 0
    if pyarrow.types.is_floating(kind):
        return 1
    return _TEXT  # string, or anything else written by hand: kept as its cells' text


def _array(cells: Sequence[Cell], rank: int) -> Any:
    """A column of ``_TYPES[rank]`` holding these cells.

    Built from buffers: ``pyarrow.array`` on a list would import pandas, when installed.
    """
    valid = [c != "" for c in cells] if "" in cells else None
    if rank == _TEXT:
        texts = list(map(text_of_cell, cells))
        try:
            encoded = [text.encode() for text in texts]
        except UnicodeEncodeError:  # a lone surrogate: _values gives the text to store
            encoded = [utf8_text(text).encode() for text in texts]
        return pyarrow.chunked_array(_text_arrays(encoded, valid), _TYPES[_TEXT])
    numbers: Any = [0 if c == "" else c for c in cells] if valid else cells
    data = pyarrow.py_buffer(array.array("q" if rank == 0 else "d", numbers))
    values = pyarrow.Array.from_buffers(_TYPES[rank], len(cells), [_bitmap(valid), data])
    return pyarrow.chunked_array([values], _TYPES[rank])


def _text_arrays(encoded: list[bytes], valid: list[bool] | None) -> list[Any]:
    """String arrays of these UTF-8 texts, split where the 32-bit offsets would overflow."""
    offsets = array.array("q", accumulate(map(len, encoded), initial=0))
    if offsets[-1] >= 2**31 and len(encoded) > 1:
        half = len(encoded) // 2
        return _text_arrays(encoded[:half], valid and valid[:half]) + _text_arrays(
            encoded[half:], valid and valid[half:]
        )
    buffers = [
        _bitmap(valid),
        pyarrow.py_buffer(array.array("i", offsets)),
        pyarrow.py_buffer(b"".join(encoded)),
    ]
    return [pyarrow.Array.from_buffers(_TYPES[_TEXT], len(encoded), buffers)]


def _bitmap(valid: list[bool] | None) -> Any:
    """Arrow's validity bitmap: bit i (least significant first) set when cell i is not null."""
    if valid is None:
        return None
    bits = int("".join(["1" if v else "0" for v in reversed(valid)]) or "0", 2)
    return pyarrow.py_buffer(bits.to_bytes((len(valid) + 7) // 8, "little"))


def _conform(table: Any, schema: Any) -> Any:
    """``table`` with exactly ``schema``'s columns and types."""
    if table.schema.equals(schema):
        return table
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pyarrow.chunked_array([pyarrow.nulls(table.num_rows, field.type)]))
            continue
        column = table.column(field.name)
        if column.type.equals(field.type):
            columns.append(column)
        else:
            columns.append(_array(_cells(column), _TYPES.index(field.type)))
    return pyarrow.Table.from_arrays(columns, schema=schema)
