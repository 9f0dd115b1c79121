"""The columns of a PostgreSQL store: which column type holds which cell, and back.

A key column's type follows its values: ``bigint`` for ints, ``double precision`` for
floats, ``text`` (stet's cell text) for anything else, ``timestamptz`` for the
timestamp. The rules for the cells themselves (which numbers a cell keeps as numbers,
the text of a float, text without NUL) are ``stet._values``'s.
"""

from __future__ import annotations

from .._storedcells import float_cells, nul_free_text, stored_cells
from .._values import cell_of
from .base import DamagedStoreError
from .pglink import TIMESTAMPTZ

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .._values import Cell

__all__ = [
    "FUNCTION",
    "KIND_OF_OID",
    "ROW",
    "SQL_TYPE",
    "TIMESTAMP",
    "WIDER",
    "cells_of",
    "column_name",
    "column_problem",
    "kind_of",
    "kind_of_column",
    "param",
]

ROW = "_stet_row"
TIMESTAMP = "_stet_timestamp"
FUNCTION = "_stet_function"

# Type OIDs, and the kind of cell each column type holds.
_INT8, _FLOAT8, _TEXT = 20, 701, 25
_INTS = frozenset({20, 21, 23})  # bigint, smallint, integer
_FLOATS = frozenset({700, 701})  # real, double precision
_TEXTS = frozenset({25, 1043, 1042, 19})  # text, varchar, char, name
KIND_OF_OID = {_INT8: "int", _FLOAT8: "float", _TEXT: "text", TIMESTAMPTZ: "time"}
SQL_TYPE = {"int": "bigint", "float": "double precision", "text": "text", "time": "timestamptz"}
WIDER = {"int": 0, "float": 1, "text": 2}  # a column only ever widens

_MAX_COLUMNS = 1600  # PostgreSQL's MaxHeapAttributeNumber
# The names PostgreSQL keeps for every table's system columns.
_SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})


def column_problem(header: Sequence[str], new: Sequence[str]) -> tuple[str, str] | None:
    """The first of ``new`` columns PostgreSQL cannot hold, and why (``header`` it can)."""
    count = len(header) + len(new) + (TIMESTAMP not in header) + (ROW not in header)
    if count > _MAX_COLUMNS:
        return new[0], f"a PostgreSQL table holds at most {_MAX_COLUMNS} columns"
    for column in new:
        size = len(column.encode("utf-8", "surrogatepass"))
        if size > 63:
            return column, f"PostgreSQL cuts names at 63 bytes, and this one has {size}"
        if column in _SYSTEM_COLUMNS:
            return column, f"{column} is the name of a PostgreSQL system column"
    return None


def column_name(column: str) -> str:
    """A column's name, refused when PostgreSQL would cut it."""
    if len(column.encode("utf-8", "surrogatepass")) > 63:
        raise ValueError(
            f"a PostgreSQL store cannot have a column named {column!r}: PostgreSQL cuts "
            "names at 63 bytes. Rename that parameter."
        )
    return column


# ------------------------------------------------------------------------ reading


def cells_of(values: list[Any], oid: int, column: str, name: str) -> list[Cell]:
    """One column's values as cells: NULL is ``""``; each type read as stet reads it."""
    if None in values:
        present = [v for v in values if v is not None]
        if not present:
            return [""] * len(values)
        it = iter(cells_of(present, oid, column, name))
        return ["" if v is None else next(it) for v in values]
    if oid in _TEXTS:
        return values
    if oid in _INTS:
        return stored_cells(values)
    if oid in _FLOATS:
        return float_cells(values)
    if oid == TIMESTAMPTZ:  # ``2026-03-12 11:48:59.428485+00``, read as text
        return [f"{v[:10]}T{v[11:26]}+00:00" if len(v) == 29 else _stamp(v) for v in values]
    return [_cell(v, column, name) for v in values]


def _stamp(text: str) -> str:
    """PostgreSQL's text of a UTC time as stet writes it (``...T11:48:59.428400+00:00``)."""
    day, _, clock = text.partition(" ")
    if not clock.endswith("+00"):
        return text  # a time before the year 1 (BC): as PostgreSQL shows it
    second, _, fraction = clock[:-3].partition(".")
    return f"{day}T{second}.{fraction:0<6}+00:00"


def _cell(value: Any, column: str, name: str) -> Cell:
    """A value of a column type stet does not make (a table changed by hand)."""
    if isinstance(value, bytes | bytearray | memoryview):
        raise DamagedStoreError(
            f"{name} is damaged: its column {column} holds bytes, and stet stores numbers "
            "and text only. Change or delete that value; stet changed nothing."
        )
    if isinstance(value, bool | int | float):
        return cell_of(value)
    if isinstance(value, str):
        return value
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat() if isoformat is not None else value)


# ------------------------------------------------------------------------ writing


def kind_of_column(column: str, cells: list[Cell]) -> str:
    """The kind a rewritten column takes from its cells."""
    if column == TIMESTAMP:
        return "time"
    if column == FUNCTION:
        return "text"
    kinds = set(map(type, cells))
    if str in kinds and any(c != "" for c in cells if type(c) is str):
        return "text"
    kinds.discard(str)
    if not kinds:
        return "text"  # no value yet: the first one chooses
    return "int" if kinds == {int} else "float"


def kind_of(cell: Cell) -> str:
    """The kind of column a cell needs."""
    kind = type(cell)
    return "int" if kind is int else "float" if kind is float else "text"


def param(cell: Cell, kind: str) -> Any:
    """A cell as its column's type takes it."""
    if kind == "text":
        return nul_free_text(cell)
    if kind == "float" and type(cell) is int:
        return float(cell)
    return cell
