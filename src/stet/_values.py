"""Cells and their text: with ``_plain`` (plain values and keys), the only place that
knows value types.

A handful of verbs, for a live value and for a store cell:

* ``key_of(value)``, ``cell_of(value)``, ``text_of(value)``, ``plain_of(value)``;
* ``key_of_cell(cell)``, ``text_of_cell(cell)``, ``value_of_cell(cell)``, and
  ``record_keys(columns)``, the keys of many records at once;
* ``result_cell_of(value)`` and ``result_value_of_cell(cell)``: a result's cell, in which a
  list stays a list.

The *text* is what a text cell holds (``0.1``, ``3``, ``abc``), with quotes added only
where the text alone could be read as another type. A *cell* holds a number when the
number is exact in every format (a finite float, an int of magnitude below 2**53), and
its text otherwise.
"""

from __future__ import annotations

import math
import operator
import struct
import sys
from itertools import repeat

from ._plain import EXACT as _EXACT
from ._plain import (
    ArrayValue,
    UnsupportedValueError,
    float_key,
    int_key,
    key_of,
    pack_float,
    plain_key,
    plain_of,
    short_repr,
)

TYPE_CHECKING = False  # typing is not imported at run time: it would double import time
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from typing import Any, TypeAlias

    from ._plain import Plain

__all__ = [
    "FILE_PREFIX",
    "ArrayValue",
    "Cell",
    "Plain",
    "UnkeptResultError",
    "UnsupportedValueError",
    "cell_from_json",
    "cell_of",
    "display",
    "key_of",
    "key_of_cell",
    "plain_of",
    "record_keys",
    "result_cell_of",
    "result_literal",
    "result_value_of_cell",
    "text_of",
    "text_of_cell",
    "typed_cell",
    "typed_result_cell",
    "value_of_cell",
]


if TYPE_CHECKING:
    Cell: TypeAlias = "str | int | float"
    """What a store cell holds: a number, or text (``""`` when the column is absent).

    Numbers are kept as numbers when the number itself is exact in every format (a finite
    float, an int of magnitude below 2**53); every other value is its cell text.
    """


FILE_PREFIX = "file:"  # a result cell naming a file in its run's directory (_resultfiles)

# -------------------------------------------------------------------------------- keys


def record_keys(columns: Sequence[Sequence[Cell]], count: int) -> Iterator[bytes]:
    """The keys of ``count`` records given as their key columns' cells, without a Python
    loop (a function without key parameters: ``count`` empty keys).

    A column of numbers within the exact float range becomes floats in one ``map``; the
    records' keys are then packed in one more ``map``. Any other column is keyed cell
    by cell, each distinct text parsed once.
    """
    if not columns:
        return repeat(b"", count)
    packed: list[Iterable[Any]] = []
    for cells in columns:
        floats = _exact_floats(cells)
        if floats is None:
            return _joined(columns)
        packed += [repeat(b"d"), floats]
    return map(struct.Struct("<" + "cd" * len(columns)).pack, *packed)


def _exact_floats(cells: Sequence[Cell]) -> list[float] | None:
    """The cells as floats, when all are numbers whose key is their packed float."""
    try:
        if cells and type(cells[0]) is str and _repeats(cells):  # a text grid axis: parse once
            parsed = {cell: float(cell) + 0.0 for cell in set(cells)}  # + 0.0: -0.0 is 0.0
            floats = list(map(parsed.__getitem__, cells))
        else:
            floats = list(map(float, cells))
            if 0.0 in floats:  # -0.0 and 0.0 are one value
                floats = list(map(operator.add, floats, repeat(0.0)))
    except ValueError:
        return None
    if floats and not (
        math.isfinite(sum(floats)) and min(floats) > -_EXACT and max(floats) < _EXACT
    ):
        return None  # NaN, infinities and huge integers take the general path
    return floats


def _repeats(cells: Sequence[Cell]) -> bool:
    """Whether a column repeats its values, judged on a sample spread over it."""
    sample = cells[:: max(1, len(cells) // 1000)]
    return len(set(sample)) * 2 <= len(sample)


def _joined(columns: Sequence[Sequence[Cell]]) -> Iterator[bytes]:
    keyed = []
    for cells in columns:
        if _repeats(cells):
            keyed.append(map({cell: key_of_cell(cell) for cell in set(cells)}.__getitem__, cells))
        else:
            keyed.append(map(key_of_cell, cells))
    return map(b"".join, zip(*keyed, strict=True))


# ------------------------------------------------------------------------------- text

# Strings that readers (stet, pandas) would take for something other than a string.
_NOT_PLAIN_TEXT = frozenset(
    {
        "",
        "None",
        "True",
        "False",
        "NA",
        "N/A",
        "n/a",
        "NaN",
        "-NaN",
        "nan",
        "-nan",
        "null",
        "NULL",
        "<NA>",
        "#N/A",
        "#NA",
        "-1.#IND",
        "1.#QNAN",
        "1.#IND",
        "-1.#QNAN",
        "#N/A N/A",
        "TRUE",
        "FALSE",
        "true",
        "false",
    }
)
_LITERAL_STARTS = frozenset("'\"([{")


def text_of(value: Any) -> str:
    """The text a cell holds for a live value (a CSV cell's)."""
    return text_of_cell(cell_of(value))


def _str_text(s: str) -> str:
    return s if _is_plain_text(s) else repr(s)


def _is_plain_text(s: str) -> bool:
    if s in _NOT_PLAIN_TEXT or s[0] in _LITERAL_STARTS or s.startswith("array("):
        return False
    if s != s.strip() or "\n" in s or "\r" in s:
        return False
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: an escaped literal keeps files UTF-8
            return False
    try:
        float(s)
    except ValueError:
        return True
    return False


def _literal(value: Plain) -> str:
    if isinstance(value, float):
        return repr(value)  # nan, inf and -inf are names the reader accepts
    if isinstance(value, tuple):
        inner = ", ".join(_literal(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, ArrayValue):
        if 0 in value.shape or not value.shape:
            return f"array({_nested_literal(value.nested())}, shape={value.shape!r})"
        return f"array({_nested_literal(value.nested())})"
    return repr(value)


def _nested_literal(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_nested_literal(item) for item in value) + "]"
    return _literal(value)


def value_of_cell(cell: Cell) -> Plain:
    """The plain value a cell stands for (inverse of :func:`cell_of`)."""
    if type(cell) is not str:
        return cell
    text = cell
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return _int_or_float(text, number)
    if (
        text in ("None", "True", "False")
        or text[:1] in _LITERAL_STARTS
        or text.startswith("array(")
    ):
        from ._literal import read_literal

        try:
            return read_literal(text)
        except (SyntaxError, ValueError):
            return text  # hand-written text that only looks like a literal
    return text


def key_of_cell(cell: Cell) -> bytes:
    """The identity key of a cell (the store-opening hot path)."""
    kind = type(cell)
    if kind is float:
        return float_key(cell)  # type: ignore[arg-type]
    if kind is int:
        return int_key(cell)  # type: ignore[arg-type]
    text: str = cell  # type: ignore[assignment]
    try:
        number = float(text)
    except ValueError:
        return plain_key(value_of_cell(text))
    if -_EXACT < number < _EXACT:
        return pack_float(b"d", number + 0.0)
    return plain_key(_int_or_float(text, number))


def _int_or_float(text: str, number: float) -> int | float | str:
    if not number.is_integer() and not math.isinf(number):
        return number  # a fraction or nan: the common float, at once
    stripped = text.strip().lstrip("+-")
    if stripped.isdigit():  # an integer, however far beyond the float range
        try:
            return int(text)
        except ValueError:  # more digits than Python reads: written by hand, as text
            return text
    return number


# ------------------------------------------------------------------------------ cells


def _float_cell(x: float) -> Cell:
    x = float(x)  # NumPy's float64 is a float; its repr is not
    return x if x - x == 0.0 else repr(x)  # NaN and infinities are text: nan, inf, -inf


def _int_cell(n: int) -> Cell:
    return n if -_EXACT < n < _EXACT else repr(n)


_CELL_BY_TYPE: dict[type, Callable[[Any], Cell]] = {
    float: _float_cell,
    int: _int_cell,
    str: _str_text,
}


def _learn_cell_type(kind: type) -> None:
    """Give NumPy number types a fast cell once their first value is seen."""
    numpy = sys.modules.get("numpy")
    if numpy is None or not issubclass(kind, numpy.generic):
        return
    if issubclass(kind, numpy.floating) and numpy.dtype(kind).itemsize <= 8:
        _CELL_BY_TYPE[kind] = _float_cell
    elif issubclass(kind, numpy.integer) and not issubclass(kind, numpy.timedelta64):
        _CELL_BY_TYPE[kind] = lambda x: _int_cell(int(x))


def cell_of(value: Any) -> Cell:
    """The cell a store holds for a live value (the record hot path)."""
    kind = type(value)
    try:
        return _CELL_BY_TYPE[kind](value)
    except KeyError:
        pass
    _learn_cell_type(kind)
    plain = plain_of(value)
    if isinstance(plain, float) and not isinstance(plain, bool):
        return _float_cell(plain)
    if isinstance(plain, int) and not isinstance(plain, bool):
        return _int_cell(plain)
    return _str_text(plain) if isinstance(plain, str) else _literal(plain)


def text_of_cell(cell: Cell) -> str:
    """The text of a cell, as a CSV file shows it."""
    return cell if type(cell) is str else repr(cell)


def typed_cell(cell: Cell) -> Cell:
    """The same cell with a number's text turned into the number (``"0.10"`` -> ``0.1``)."""
    if type(cell) is not str or cell == "":
        return cell
    return cell_of(value_of_cell(cell))


def cell_from_json(item: Any) -> Cell:
    """A cell from a JSON value written by hand (stet writes numbers and strings only).

    A string is already a cell's text; ``null`` means the record lacks the column.
    """
    if item is None:
        return ""
    return item if type(item) is str else cell_of(item)


# ------------------------------------------------------------------------------ results

_MAX_RESULT_TEXT = 1000  # characters of a tuple or list result cell: small ones only


class UnkeptResultError(TypeError):
    """A result value that would not come back from its cell equal and of its type."""


def result_cell_of(value: Any) -> Cell:
    """The cell of one result value (a list stays a list, ``[1, 2]``, and a tuple a
    tuple); :class:`UnkeptResultError`, saying why, when it would not come back equal and
    of the same type."""
    problem = _result_problem(value)
    if problem is None:
        if type(value) is str and value.startswith(FILE_PREFIX):
            return repr(value)  # a bare file: cell names a result file (_resultfiles)
        cell = result_literal(value) if type(value) in (list, tuple) else cell_of(value)
        if type(cell) is not str or len(cell) <= _MAX_RESULT_TEXT or type(value) is str:
            return cell
        problem = f"it is too large for a cell ({len(cell):,} characters)"
    raise UnkeptResultError(problem)


def _result_problem(value: Any) -> str | None:
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return None
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        return f"it is a NumPy array (shape {value.shape}); a skip cannot give an array back"
    if numpy is not None and isinstance(value, numpy.generic):
        if isinstance(value, numpy.bool_ | numpy.integer | numpy.floating):
            return None  # comes back as the equal Python number
        return f"NumPy {value.dtype} values do not come back as they were"
    if kind in (tuple, list):
        for item in value:
            inner = _result_problem(item)
            if inner is not None:
                return inner
        return None
    if isinstance(value, dict):
        return "it is a dict inside a result; results are flat"
    return f"a {kind.__qualname__} would not come back as one (its text: {_short(value)})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def result_literal(value: Any) -> str:
    """Python literal text in which lists stay lists: ``[1, (2, 'a')]``."""
    if type(value) is list:
        return "[" + ", ".join(map(result_literal, value)) + "]"
    if type(value) is tuple:
        inner = ", ".join(map(result_literal, value))
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return _literal(plain_of(value))


def typed_result_cell(cell: Cell) -> Cell:
    """A result cell with a number's text turned into the number; other text kept."""
    if type(cell) is not str or cell == "":
        return cell
    try:
        value = value_of_cell(cell)
    except ValueError:
        return cell
    return cell_of(value) if type(value) in (int, float) else cell


def result_value_of_cell(cell: Cell) -> Any:
    """The value one result cell stands for (lists stay lists)."""
    if type(cell) is not str:
        return cell
    if cell[:1] == "[" or (cell[:1] == "(" and "[" in cell):
        from ._literal import read_result_literal

        return read_result_literal(cell)
    return value_of_cell(cell)


# ---------------------------------------------------------------------------- display


def display(value: Any) -> str:
    """A value as the user wrote it, for messages (``np.float64(0.0)``)."""
    return short_repr(value)
