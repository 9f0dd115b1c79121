"""Plain values and their identity keys.

* the *plain* value: live Python, NumPy, enum, path, date or dataclass values reduced
  to ``None``, ``bool``, ``int``, ``float``, ``str``, ``tuple``, ``dict`` or
  :class:`ArrayValue`;
* the *key*: bytes that are equal exactly when two values are the same run under the
  identity rules (numbers by value, ``bool`` and ``str`` their own types, NaN equal to
  NaN, ``-0.0`` equal to ``0.0``, dicts whatever their order, arrays by shape and
  every value).

``_values`` builds cells and their text on these; use its names.
"""

from __future__ import annotations

import datetime
import math
import os
import struct
import sys

from ._errors import UnsupportedValueError

TYPE_CHECKING = False  # typing is not imported at run time: it would double import time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

__all__ = [
    "EXACT",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "ArrayValue",
    "Plain",
    "UnsupportedValueError",
    "float_key",
    "int_key",
    "key_of",
    "pack_float",
    "plain_key",
    "plain_of",
    "short_repr",
]


class ArrayValue:
    """A NumPy array reduced to its shape and its values in C order."""

    __slots__ = ("flat", "shape")

    def __init__(self, shape: tuple[int, ...], flat: tuple[Plain, ...]) -> None:
        self.shape = shape
        self.flat = flat

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArrayValue):
            return NotImplemented
        return (self.shape, self.flat) == (other.shape, other.flat)

    def __hash__(self) -> int:
        return hash((self.shape, self.flat))

    def __repr__(self) -> str:
        return f"ArrayValue({self.shape!r}, ...)"

    def nested(self) -> Plain:
        """The values as nested lists of the array's shape (``tolist()``)."""

        def build(depth: int, start: int) -> tuple[Any, int]:
            if depth == len(self.shape):
                return self.flat[start], start + 1
            items = []
            for _ in range(self.shape[depth]):
                item, start = build(depth + 1, start)
                items.append(item)
            return items, start

        return build(0, 0)[0]  # type: ignore[no-any-return]


if TYPE_CHECKING:
    Plain: TypeAlias = (
        "bool | int | float | str | tuple[Plain, ...] | dict[Plain, Plain] | ArrayValue | None"
    )


# --------------------------------------------------------------------------- plain values


# Containers nest at most this deep: Python's parser reads back 200 nested brackets.
MAX_DEPTH = 100


def plain_of(value: Any, depth: int = 0) -> Plain:
    """Reduce a live value to its plain form, or raise :class:`UnsupportedValueError`."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is float or kind is str:
        return value  # type: ignore[no-any-return]
    if depth >= MAX_DEPTH:
        raise UnsupportedValueError(
            f"stet keeps values nested at most {MAX_DEPTH} containers deep; this one is deeper"
        )
    enum = sys.modules.get("enum")  # no Enum value exists before enum is imported
    if enum is not None and isinstance(value, enum.Enum):
        return plain_of(value.value, depth)
    if isinstance(value, ArrayValue):
        return value
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            if isinstance(value, numpy.matrix):  # stays 2-D when raveled: its values instead
                value = numpy.asarray(value)
            return _array_plain(value)
        if isinstance(value, numpy.generic):
            return _numpy_scalar_plain(value, numpy)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, tuple | list):
        return tuple(plain_of(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return _dict_plain(value, depth + 1)
    if hasattr(type(value), "__dataclass_fields__"):
        import dataclasses

        fields = dataclasses.fields(value)
        return _dict_plain({f.name: getattr(value, f.name) for f in fields}, depth + 1)
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        if isinstance(path, str):
            return path
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        finer = getattr(value, "to_datetime64", None)  # pandas' Timestamp: nanoseconds
        if finer is not None and numpy is not None and getattr(value, "tzinfo", 0) is None:
            return _numpy_time_plain(finer(), numpy)
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        if kind is not datetime.timedelta and numpy is not None:
            finer = getattr(value, "to_timedelta64", None)  # pandas' Timedelta: nanoseconds
            if finer is not None:
                return _numpy_time_plain(finer(), numpy)
        return datetime.timedelta.__str__(value)
    raise UnsupportedValueError(
        f"stet cannot compare a value of type {kind.__qualname__} exactly "
        f"(its text is {short_repr(value)})"
    )


def _dict_plain(value: dict[Any, Any], depth: int) -> dict[Plain, Plain]:
    """A dict's items as plain values; refused when two of its keys are one value."""
    keys = [plain_of(k, depth) for k in value]
    values = [plain_of(v, depth) for v in value.values()]
    try:
        plain = dict(zip(keys, values, strict=True))
    except TypeError:  # a key reduced to a dict (a dataclass): it has no stable order
        raise UnsupportedValueError(
            f"a key of the dict {short_repr(value)} is, or holds, a dataclass; stet compares "
            "dict keys that are numbers, strings, bools, None, tuples, enums, paths or dates"
        ) from None
    if len(plain) < len(value) or len({plain_key(k) for k in keys}) < len(keys):
        raise UnsupportedValueError(
            f"two keys of the dict {short_repr(value)} are one value under stet's identity "
            "rules (such as an enum and its value, or two NaNs), so their items would merge"
        )
    return plain


def _numpy_scalar_plain(value: Any, numpy: Any) -> Plain:
    if isinstance(value, numpy.datetime64 | numpy.timedelta64):
        return _numpy_time_plain(value, numpy)
    item = value.item()
    if isinstance(item, numpy.generic):  # longdouble and the like have no exact Python twin
        raise UnsupportedValueError(
            f"stet cannot compare NumPy {value.dtype} values exactly; convert to float64"
        )
    return plain_of(item)


# A fixed NumPy time unit in attoseconds, the finest unit NumPy has.
_ATTOSECONDS = {
    "W": 7 * 86400 * 10**18,
    "D": 86400 * 10**18,
    "h": 3600 * 10**18,
    "m": 60 * 10**18,
    "s": 10**18,
    "ms": 10**15,
    "us": 10**12,
    "ns": 10**9,
    "ps": 10**6,
    "fs": 10**3,
    "as": 1,
}
# The units a time's text is written in when Python's datetime cannot hold it: the
# first that holds it exactly, so that one instant has one text whatever its unit.
_TEXT_UNITS = ("us", "ns", "ps", "fs", "as", "ms", "s", "m", "h", "D")
_INT64 = 2**63


def _numpy_time_plain(value: Any, numpy: Any) -> Plain:
    """A ``datetime64`` or ``timedelta64`` by its natural value, whatever its unit.

    A value Python's ``datetime``/``timedelta`` holds exactly is the same value as one
    (its ISO text, or ``str(timedelta)``); any other is NumPy's text in the first unit of
    ``_TEXT_UNITS`` that holds it exactly. Month and year durations are ``N months``.
    """
    if numpy.isnat(value):
        return "NaT"
    dated = isinstance(value, numpy.datetime64)
    unit, step = numpy.datetime_data(value.dtype)
    count = int(value.view("i8")) * step
    kind = "datetime64" if dated else "timedelta64"
    if unit == "generic":
        raise UnsupportedValueError(
            f"stet cannot compare a NumPy {kind} without a unit ({value!r}); give it one, "
            f"such as numpy.{kind}({count}, 's')"
        )
    if unit in ("Y", "M"):
        months = count * 12 if unit == "Y" else count
        if not dated:  # a calendar duration: no number of seconds equals it
            return f"{months} months"
        year, month = divmod(months, 12)
        count, unit = _days_from_civil(1970 + year, month + 1), "D"
    atto = count * _ATTOSECONDS[unit]
    micros, finer = divmod(atto, _ATTOSECONDS["us"])
    if not finer:
        try:
            if dated:
                return (_EPOCH + datetime.timedelta(microseconds=micros)).isoformat()
            return str(datetime.timedelta(microseconds=micros))
        except OverflowError:
            pass  # beyond Python's range: NumPy's text below
    for text_unit in _TEXT_UNITS:
        n, rest = divmod(atto, _ATTOSECONDS[text_unit])
        if not rest and -_INT64 < n < _INT64:
            return str(getattr(numpy, kind)(n, text_unit))
    raise UnsupportedValueError(f"stet cannot compare the NumPy {kind} {value!r} exactly")


_EPOCH = datetime.datetime(1970, 1, 1)


def _days_from_civil(year: int, month: int) -> int:
    """Days from 1970-01-01 to the first of a month (proleptic Gregorian, any year)."""
    year -= month <= 2
    era, year_of_era = divmod(year, 400)
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _array_plain(array: Any) -> ArrayValue:
    if array.dtype.kind not in "biufU":
        raise UnsupportedValueError(
            f"stet compares NumPy arrays of numbers, booleans and strings; "
            f"this one has dtype {array.dtype}"
        )
    return ArrayValue(
        tuple(int(n) for n in array.shape), tuple(plain_of(x) for x in array.ravel().tolist())
    )


# -------------------------------------------------------------------------------- keys

EXACT = 2.0**53  # every integer of smaller magnitude is exact as a float
pack_float = struct.Struct("<cd").pack
_NAN_KEY = b"n"


def float_key(x: float) -> bytes:
    if -EXACT < x < EXACT:
        return pack_float(b"d", x + 0.0)  # + 0.0 turns -0.0 into 0.0
    if x != x:
        return _NAN_KEY
    if math.isinf(x):
        return pack_float(b"d", x)
    return _big_int_key(int(x))


def int_key(n: int) -> bytes:
    if -EXACT < n < EXACT:
        return pack_float(b"d", float(n))
    return _big_int_key(n)


# Python reads back integers of at most this many digits (sys.int_info's default).
MAX_INT_DIGITS = 4300
_TOO_MANY_DIGITS = 10**MAX_INT_DIGITS


def _big_int_key(n: int) -> bytes:
    if not -_TOO_MANY_DIGITS < n < _TOO_MANY_DIGITS:
        raise UnsupportedValueError(
            f"stet keeps integers of at most {MAX_INT_DIGITS} digits (the most Python reads "
            f"back from text by default); this one has more"
        )
    return b"I" + str(n).encode() + b";"


def _str_key(s: str) -> bytes:
    data = s.encode("utf-8", "surrogatepass")
    return b"s" + str(len(data)).encode() + b":" + data


def _bool_key(b: bool) -> bytes:
    return b"T" if b else b"F"


def _none_key(_: None) -> bytes:
    return b"N"


def plain_key(value: Plain) -> bytes:
    """The identity key of a plain value."""
    if value is None:
        return b"N"
    if isinstance(value, bool):
        return _bool_key(value)
    if isinstance(value, int):
        return int_key(value)
    if isinstance(value, float):
        return float_key(value)
    if isinstance(value, str):
        return _str_key(value)
    if isinstance(value, tuple):
        return b"(" + b"".join(plain_key(item) for item in value) + b")"
    if isinstance(value, dict):
        pairs = sorted(plain_key(k) + plain_key(v) for k, v in value.items())
        return b"{" + b"".join(pairs) + b"}"
    import hashlib

    digest = hashlib.sha256(b"".join(plain_key(x) for x in value.flat)).digest()
    return b"a" + plain_key(tuple(value.shape)) + digest


_KEY_BY_TYPE: dict[type, Callable[[Any], bytes]] = {
    float: float_key,
    int: int_key,
    str: _str_key,
    bool: _bool_key,
    type(None): _none_key,
}


def key_of(value: Any) -> bytes:
    """The identity key of a live value (the hot path: one dict lookup for common types)."""
    try:
        return _KEY_BY_TYPE[type(value)](value)
    except KeyError:
        pass
    _learn_scalar_type(type(value))
    return plain_key(plain_of(value))


def _learn_scalar_type(kind: type) -> None:
    """Give NumPy scalar types a fast key once their first value is seen."""
    numpy = sys.modules.get("numpy")
    if numpy is None or not issubclass(kind, numpy.generic):
        return
    if issubclass(kind, numpy.floating) and numpy.dtype(kind).itemsize <= 8:
        _KEY_BY_TYPE[kind] = lambda x: float_key(float(x))
    elif issubclass(kind, numpy.integer) and not issubclass(kind, numpy.timedelta64):
        _KEY_BY_TYPE[kind] = lambda x: int_key(int(x))
    elif issubclass(kind, numpy.bool_):
        _KEY_BY_TYPE[kind] = lambda x: _bool_key(bool(x))


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to at most 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
