"""The value rules the formats call when they store and read back cells: what a cell
read from storage stands for, and the text of a cell that storage cannot hold as it is.

The formats only move cells; every rule about a value's text (the 2**53 threshold, NaN
and infinities, lone surrogates, NUL) is the values layer's, here and in ``_values``.
"""

from __future__ import annotations

import math

from ._plain import EXACT
from ._values import cell_from_json, cell_of, text_of_cell

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from ._values import Cell

__all__ = [
    "exact_as_float",
    "float_cells",
    "float_text",
    "foreign_cell",
    "nul_free_cells",
    "nul_free_text",
    "printable_text",
    "stored_cells",
    "utf8_text",
]


# -- every format's


def stored_cells(values: Sequence[Any]) -> list[Cell]:
    """The cells of values a format read back from its storage (``None``: no value).

    Numbers stet writes as text (integers of magnitude 2**53 or more, NaN, infinities)
    become that text; a value of a type stet never writes (put there by hand) becomes
    the cell it would have been.
    """
    kinds = set(map(type, values))
    if kinds <= {str}:
        return list(values)
    if kinds <= {str, type(None)}:  # a column some records lack
        return ["" if value is None else value for value in values]
    if kinds == {int} and min(values) > -EXACT and max(values) < EXACT:
        return list(values)
    if kinds == {float} and -float("inf") < min(values) and max(values) < float("inf"):
        return list(values)  # NaN aside (SQLite stores it as NULL): min and max see all
    return [foreign_cell(value) for value in values]


def foreign_cell(value: Any) -> Cell:
    """A cell for a value a format read back that stet would not have written as is
    (``None`` is no value)."""
    try:
        return cell_from_json(value)
    except TypeError:
        return str(value)


def utf8_text(text: str) -> str:
    """A cell's text as UTF-8 can hold it: one with a lone surrogate is given as its
    quoted literal, which stet reads back as the same value."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return repr(text)
    return text


# -- the PostgreSQL format's


def exact_as_float(*numbers: int) -> bool:
    """Whether every one of these integers is exact as a float (of magnitude below 2**53),
    so that a cell keeps it as a number."""
    return all(-EXACT < n < EXACT for n in numbers)


def float_cells(numbers: list[Any]) -> list[Cell]:
    """Floats read from a column of floats, as cells: each one a float, or each as its
    cell when one is NaN or infinite (then it is text)."""
    floats: list[Any] = list(map(float, numbers))
    return floats if all(map(math.isfinite, floats)) else list(map(cell_of, floats))


def float_text(text: str) -> str:
    """The cell text of the float ``text`` reads as, however it is written: ``2`` and
    ``2.000`` are ``2.0``, ``-0`` is ``-0.0`` (a float's text stays a float's)."""
    return text_of_cell(float(text))


def nul_free_text(cell: Cell) -> str:
    """A cell's text without NUL, for storage that cannot keep NUL (PostgreSQL): a text
    holding NUL is written as its literal, which reads back as the same value."""
    if type(cell) is not str:
        return text_of_cell(cell)
    return repr(cell) if "\x00" in cell else cell


def nul_free_cells(cells: list[Cell]) -> list[Cell]:
    """The cells, each text holding NUL as its literal (the same list when none does)."""
    if not any("\x00" in cell for cell in cells if type(cell) is str):
        return cells
    return [nul_free_text(cell) if type(cell) is str else cell for cell in cells]


def printable_text(text: str) -> str:
    """Text any storage keeps, for what messages show (a call, a host): NUL as ``\\x00``,
    a lone surrogate as its escape."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
