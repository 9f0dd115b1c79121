"""The identity rules of DESIGN.md, checked against an independent reference.

``reference`` below restates the rules directly (numbers as exact fractions, tagged
types); stet's keys must agree with it. That they also hold after a restart, in every
store format, is checked in test_contract.py with the same strategies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import math
import os
import secrets
import warnings
from collections import namedtuple
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from formats import FORMATS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from probes import identity as identity_probe

import stet
from stet._registry import _registry
from stet._store import Store
from stet._values import (
    UnsupportedValueError,
    cell_of,
    key_of,
    key_of_cell,
    plain_of,
    record_keys,
    text_of,
    text_of_cell,
    value_of_cell,
)


def reference(value: Any) -> Any:
    """The identity rules, restated independently of stet's implementation."""
    if isinstance(value, np.ndarray):
        return ("array", value.shape, tuple(reference(x) for x in value.ravel().tolist()))
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return ("none",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return ("nan",)
        if isinstance(value, float) and math.isinf(value):
            return ("inf", value > 0)
        return ("number", Fraction(value))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, tuple | list):
        return ("seq", tuple(reference(x) for x in value))
    if isinstance(value, dict):
        return ("map", frozenset((reference(k), reference(v)) for k, v in value.items()))
    raise TypeError(type(value))


TRICKY_STRINGS = [
    "",
    "None",
    "none",
    "True",
    "1",
    "1.0",
    "-0.0",
    "nan",
    "NaN",
    "inf",
    "1e5",
    "0x10",
    " 1",
    "a,b",
    'say "hi"',
    "line\nbreak",
    "cr\rlf",
    "'quoted'",
    "(1, 2)",
    "[1]",
    "{}",
    "array([1])",
    "abc",
    "NA",
    "null",
    "1_000",
    "\x00",
    "tab\there",
]

# Integers at the edges: beyond the float range, around 2**53 and the 64-bit boundaries.
EDGE_INTEGERS = [
    10**400,
    -(10**400),
    10**4299,
    2**53 + 1,
    -(2**53) - 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64 - 1,
    2**64,
    2**64 + 1,
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-5, max_value=5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.1, 1.0, 2.0**53, 2.0**60, 1e300, 5e-324, 2.0**63]),
    st.sampled_from(EDGE_INTEGERS),
    st.sampled_from(TRICKY_STRINGS),
    st.text(alphabet=st.sampled_from(list("ab1.,\"' \n\\e-")), max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers(-3, 3)), inner, max_size=3),
    ),
    max_leaves=8,
)
arrays = st.builds(
    lambda shape, data, kind: np.array(data[: math.prod(shape)], dtype=kind).reshape(shape),
    st.sampled_from([(0,), (3,), (2, 2), (1, 3), (3, 1)]),
    st.lists(st.integers(-3, 3), min_size=4, max_size=4),
    st.sampled_from(["int64", "float64", "float32", "int8"]),
)
anything = st.one_of(values, arrays)


def equal_variant(value: Any) -> Any:
    """Another spelling of the same value: the rules say it is the same run."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return float(value) if abs(value) < 2**53 else value
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return np.float64(value)
    if isinstance(value, list):
        return tuple(equal_variant(x) for x in value)
    if isinstance(value, tuple):
        return [equal_variant(x) for x in value]
    if isinstance(value, dict):
        return {k: equal_variant(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, np.ndarray):
        return value.astype("float64") if value.dtype.kind in "iu" else value.copy()
    return value


@settings(max_examples=400, deadline=None)
@given(anything, anything)
def test_keys_agree_with_the_reference(a: Any, b: Any) -> None:
    assert (key_of(a) == key_of(b)) == (reference(a) == reference(b))


@settings(max_examples=300, deadline=None)
@given(anything)
def test_equal_spellings_share_a_key(value: Any) -> None:
    variant = equal_variant(value)
    assert reference(variant) == reference(value)
    assert key_of(variant) == key_of(value)


@settings(max_examples=400, deadline=None)
@given(anything)
def test_text_round_trips_to_the_same_key(value: Any) -> None:
    text = text_of(plain_of(value))
    assert text_of(value) == text
    assert key_of_cell(text) == key_of(value)
    assert key_of(value_of_cell(text)) == key_of(value)


# ------------------------------------------------------------------------ named cases


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (1, np.int64(1)),
        (1.0, np.float64(1.0)),
        (np.float32(0.5), 0.5),
        (float("nan"), np.nan),
        (float("nan"), np.float64("nan")),
        (-0.0, 0.0),
        (2**60, float(2**60)),
        ((1, 2), [1, 2]),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        (np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0])),
        (np.bool_(True), True),
    ],
)
def test_same_run(a: Any, b: Any) -> None:
    assert key_of(a) == key_of(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (True, 1),
        (False, 0),
        ("1", 1),
        ("None", None),
        ("", None),
        ("", "None"),
        (2**60 + 1, float(2**60)),
        (0.1, np.float32(0.1)),
        ((1, 2), (2, 1)),
        (np.array([1, 2]), [1, 2]),
        (np.array([[1, 2]]), np.array([1, 2])),
    ],
)
def test_different_runs(a: Any, b: Any) -> None:
    assert key_of(a) != key_of(b)


def test_large_arrays_compare_by_every_value_not_printed_text() -> None:
    big = np.zeros(5000)
    other = big.copy()
    other[2500] = 1.0  # NumPy prints both as [0. 0. 0. ... 0. 0. 0.]
    assert repr(big) == repr(other)
    assert key_of(big) != key_of(other)
    assert key_of(big) == key_of(np.zeros(5000))
    text = text_of(plain_of(other))
    assert key_of_cell(text) == key_of(other)


class Colour(enum.Enum):
    RED = 1
    BLUE = "blue"


@dataclasses.dataclass
class Settings:
    depth: int
    rate: float


Point = namedtuple("Point", "x y")


@pytest.mark.parametrize(
    ("value", "same_as"),
    [
        (Colour.RED, 1),
        (Colour.BLUE, "blue"),
        (Path("data/run1"), "data/run1"),
        (datetime.date(2026, 3, 12), "2026-03-12"),
        (datetime.datetime(2026, 3, 12, 11, 48, tzinfo=datetime.UTC), "2026-03-12T11:48:00+00:00"),
        (Settings(3, 0.5), {"depth": 3, "rate": 0.5}),
        (Point(1, 2), (1, 2)),
    ],
)
def test_natural_values(value: Any, same_as: Any) -> None:
    assert key_of(value) == key_of(same_as)
    assert key_of_cell(text_of(plain_of(value))) == key_of(same_as)


def test_unsupported_values_are_refused() -> None:
    class Model:
        pass

    with pytest.raises(UnsupportedValueError, match="Model"):
        key_of(Model())
    with pytest.raises(UnsupportedValueError):
        key_of(np.array([Model()], dtype=object))
    with pytest.raises(UnsupportedValueError):
        key_of(b"bytes")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (3, "3"),
        ("abc", "abc"),
        (np.float64(1.0), "1.0"),
        (None, "None"),
        ("None", "'None'"),
        ("", "''"),
        ("1", "'1'"),
        (True, "True"),
        (float("nan"), "nan"),
        ((1, "a"), "(1, 'a')"),
        ({"a": 0.5}, "{'a': 0.5}"),
        (np.array([[1, 2], [3, 4]]), "array([[1, 2], [3, 4]])"),
        ("two words", "two words"),
    ],
)
def test_cells_stay_readable(value: Any, text: str) -> None:
    assert text_of(plain_of(value)) == text


number_texts = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2**64), max_value=2**64).map(str),
    st.sampled_from(["-0.0", "0", "1e5", "nan", "inf", "9007199254740993", "abc", "'1'"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(number_texts, number_texts), min_size=1, max_size=30))
def test_whole_column_keys_equal_cell_by_cell_keys(records: list[tuple[str, str]]) -> None:
    """The store's fast path for opening must give exactly the per-cell keys."""
    columns = [[a for a, _ in records], [b for _, b in records]]
    expected = [key_of_cell(a) + key_of_cell(b) for a, b in records]
    assert list(record_keys(columns, len(records))) == expected
    assert list(record_keys([], len(records))) == [b""] * len(records)  # no key columns


def test_numpy_dates_and_times_by_natural_value() -> None:
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5, 6)
    assert key_of(np.datetime64("2024-01-02T03:04:05.000006000")) == key_of(moment)
    assert key_of(np.datetime64("2024-01-02T03:04:05.000006")) == key_of(moment)
    assert key_of(np.datetime64("2024-01-02T00:00:00.000000000")) != key_of(1704153600000000000)
    assert key_of(np.datetime64("2024-01-02T03:04:05.000000001")) != key_of(moment)
    assert key_of(np.timedelta64(90, "s")) == key_of(datetime.timedelta(seconds=90))


def test_numpy_types_without_an_exact_python_twin_are_refused() -> None:
    with pytest.raises(UnsupportedValueError, match=r"longdouble|float128|float96"):
        key_of(np.longdouble(1.5))


# ------------------------------------------------------------ values at the edges of types


@pytest.mark.parametrize("n", [10**400, -(10**400), 10**4299, 2**1024, -(2**1024) - 1])
def test_integers_beyond_the_float_range_read_back_as_integers(n: int) -> None:
    text = text_of(n)
    assert text == str(n)
    assert key_of_cell(text) == key_of(n)
    assert value_of_cell(text) == n
    infinity = math.inf if n > 0 else -math.inf
    assert key_of_cell(text) != key_of(infinity)
    assert key_of_cell(repr(infinity)) == key_of(infinity)


def test_integers_python_cannot_read_back_are_refused() -> None:
    with pytest.raises(UnsupportedValueError, match="4300 digits"):
        key_of(10**4300)
    with pytest.raises(UnsupportedValueError, match="4300 digits"):
        key_of((1, -(10**4300)))
    # a hand-written cell of that many digits is text, not infinity, and opens
    assert key_of_cell("9" * 5000) not in (key_of(math.inf), key_of(10**4299))


def test_large_integers_and_floats_by_exact_value() -> None:
    assert key_of(2**53 + 1) != key_of(float(2**53))
    assert key_of(2**53) == key_of(float(2**53))
    assert key_of(2**63) == key_of(float(2**63)) == key_of(np.uint64(2**63))
    assert key_of(2**63 + 1) != key_of(float(2**63))
    assert key_of(np.uint64(2**64 - 1)) == key_of(2**64 - 1) != key_of(float(2**64))
    assert key_of_cell(text_of(np.int64(-(2**63)))) == key_of(-(2**63))


def test_numpy_timedeltas_have_one_stable_key() -> None:
    ninety = np.timedelta64(90, "s")
    keys = {key_of(ninety) for _ in range(3)}  # the first value seen and the later ones
    assert keys == {key_of(datetime.timedelta(seconds=90))}
    assert key_of_cell(text_of(ninety)) == key_of(ninety)
    assert key_of(np.timedelta64(90_000, "ms")) == key_of(ninety)
    assert key_of(np.timedelta64(90, "m")) != key_of(ninety)
    assert key_of(np.timedelta64(90, "s")) != key_of(90)
    assert key_of(np.timedelta64(1, "D")) == key_of(datetime.timedelta(days=1))
    assert text_of(np.timedelta64(1, "D")) == "1 day, 0:00:00"
    assert key_of(np.timedelta64(1, "Y")) == key_of(np.timedelta64(12, "M")) != key_of(1)
    assert key_of(np.timedelta64(1, "ns")) == key_of(np.timedelta64(1000, "ps"))
    assert key_of(np.timedelta64(10**10, "D")) != key_of(10**10)
    assert key_of_cell(text_of(np.timedelta64(10**10, "D"))) == key_of(np.timedelta64(10**10, "D"))


def test_numpy_datetimes_past_year_9999_are_dates_not_integers() -> None:
    late = np.datetime64("10000-01-01")
    assert key_of(late) != key_of(int(late.astype("datetime64[us]").view("i8")))
    assert text_of(late) == "10000-01-01T00:00:00.000000"
    assert key_of(late) == key_of(np.datetime64("10000-01-01T00:00:00", "s"))
    assert key_of(late) != key_of(np.datetime64("10000-01-02"))
    assert key_of_cell(text_of(late)) == key_of(late)
    early = np.datetime64("-0001-06-01")
    assert key_of(early) == key_of(np.datetime64("-0001-06", "M"))
    assert key_of(early) != key_of(np.datetime64("0001-06-01"))
    # far beyond the microsecond range: no wrap-around to some other date
    far = np.datetime64(2**62, "D")
    assert key_of(far) != key_of(np.datetime64("1970-01-01"))
    assert key_of(far) != key_of(np.datetime64(2**62 + 1, "D"))
    assert key_of(np.datetime64("1970-01-02T03:04:05.000000001")) == key_of(
        np.datetime64("1970-01-02T03:04:05.000000001000", "ps")
    )


def test_numpy_times_without_a_unit_are_refused() -> None:
    with pytest.raises(UnsupportedValueError, match="without a unit"):
        key_of(np.timedelta64(5))


# ------------------------------------------- every value type, at its extremes, restarted


def natural(value: Any) -> Any:
    """The natural value of a scalar the rules compare (a path's text, a date's ISO text),
    restated independently of stet; a type stet must refuse raises TypeError."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, pd.Timestamp | type(pd.NaT)) and value.tzinfo is None:
        return natural(value.to_datetime64())
    if isinstance(value, pd.Timedelta):
        return natural(value.to_timedelta64())
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, np.datetime64 | np.timedelta64):
        return _numpy_time(value)
    if isinstance(value, np.generic) and not isinstance(value.item(), int | float | bool | str):
        raise TypeError(type(value))
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        return value
    raise TypeError(type(value))


_SECONDS = {"D": 86400, "h": 3600, "m": 60, "s": 1}


def _numpy_time(value: Any) -> Any:
    """A NumPy time as an exact number of seconds (a Fraction), or the Python datetime or
    timedelta's text when one holds it exactly."""
    if np.isnat(value):
        return "NaT"
    unit, step = np.datetime_data(value.dtype)
    if unit == "generic":
        raise TypeError("no unit")
    count = int(value.view("i8")) * step
    if unit in "YM":
        if isinstance(value, np.timedelta64):
            return ("months", count * (12 if unit == "Y" else 1))
        value, unit, count = (
            value.astype("datetime64[D]"),
            "D",
            int(value.astype("M8[D]").view("i8")),
        )
    seconds = Fraction(count) * (
        _SECONDS[unit]
        if unit in _SECONDS
        else Fraction(1, 10 ** {"ms": 3, "us": 6, "ns": 9, "ps": 12, "fs": 15, "as": 18}[unit])
    )
    if (seconds * 10**6).denominator == 1:
        micros = int(seconds * 10**6)
        with contextlib.suppress(OverflowError):
            if isinstance(value, np.datetime64):
                return (
                    datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=micros)
                ).isoformat()
            return str(datetime.timedelta(microseconds=micros))
    return ("datetime" if isinstance(value, np.datetime64) else "timedelta", seconds)


def edge_reference(value: Any) -> Any:
    """The identity of any value stet accepts; TypeError for one it must refuse."""
    if isinstance(value, enum.Enum):
        return edge_reference(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        keys = [edge_reference(k) for k in value]
        if any(k[0] == "map" for k in keys):
            raise TypeError("a dataclass as a dict key")
        if len(set(keys)) < len(keys):
            raise TypeError("two keys are one value")
        return ("map", frozenset(zip(keys, map(edge_reference, value.values()), strict=True)))
    if isinstance(value, tuple | list):
        return ("seq", tuple(edge_reference(x) for x in value))
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufU":
            raise TypeError(value.dtype)
        return reference(value)
    plain = natural(value)
    if isinstance(plain, tuple):
        return ("time", *plain)
    return reference(plain)


class Shade(enum.Enum):
    DARK = 0.5
    LIGHT = "light"
    PAIR = (1, 2)


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    size: int


Pair = namedtuple("Pair", "left right")

EDGE_STRINGS = [
    *TRICKY_STRINGS,
    "\ud800",
    "a\udfffb",
    "\x1c",
    "a\u2028b",
    "\x85",
    "\x0b\x0c",
    "é",
    "日本",
    "🎲",
    " ",
    "\\",
    "x" * 5000,
    "'" * 3,
    '"',
    "a" * 64 + "\n",
    "-",
    "+1",
    "1e400",
    "infinity",
    "NaT",
    "10000-01-01T00:00:00.000000",
]
INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOAT_DTYPES = ["float16", "float32", "float64"]


def _int_extremes(dtype: str) -> list[Any]:
    info = np.iinfo(dtype)
    return [np.dtype(dtype).type(x) for x in (info.min, info.max, 0, 1)]


def _float_extremes(dtype: str) -> list[Any]:
    info = np.finfo(dtype)
    kind = np.dtype(dtype).type
    return [
        kind(x)
        for x in (
            info.max,
            -info.max,
            info.tiny,
            info.smallest_subnormal,
            np.nan,
            np.inf,
            -np.inf,
            -0.0,
            0.1,
        )
    ]


NUMPY_SCALARS = [
    *(x for d in INT_DTYPES for x in _int_extremes(d)),
    *(x for d in FLOAT_DTYPES for x in _float_extremes(d)),
    np.bool_(True),
    np.bool_(False),
    np.str_("abc"),
    np.str_(""),
    np.datetime64("2024-01-02T03:04:05.123456"),
    np.datetime64("2024-01-02", "D"),
    np.datetime64("2024-01", "M"),
    np.datetime64("10000-01-01"),
    np.datetime64("-0001-01-01"),
    np.datetime64("1970-01-01T00:00:00.000000001"),
    np.datetime64(2**62, "D"),
    np.datetime64("NaT"),
    np.timedelta64(90, "s"),
    np.timedelta64(1, "D"),
    np.timedelta64(1, "ns"),
    np.timedelta64(12, "M"),
    np.timedelta64(1, "Y"),
    np.timedelta64(10**10, "D"),
    np.timedelta64(-5, "h"),
    np.timedelta64("NaT"),
    np.complex128(1 + 2j),  # refused
    np.longdouble(1.5),  # refused
    np.bytes_(b"a"),  # refused
]
NUMPY_ARRAYS = [
    np.array(5),
    np.array(-0.0),
    np.array([]),
    np.zeros((0, 3)),
    np.zeros((2, 0), dtype="int8"),
    np.array([np.iinfo("int64").min, np.iinfo("int64").max]),
    np.array([np.iinfo("uint64").max], dtype="uint64"),
    np.array([np.finfo("float64").max, np.nan, -np.inf, 5e-324]),
    np.array([0.1, 0.2], dtype="float32"),
    np.array([[True, False]]),
    np.array(["a,b", "", "'", "\n"]),
    np.array([1, 2, 3]),
    np.array([1.0, 2.0, 3.0]),
    np.array(["2024-01-01"], dtype="datetime64[D]"),  # refused
    np.array([object()], dtype=object),  # refused
]
OTHER_VALUES = [
    pd.Timestamp("2024-01-02T03:04:05.123456789"),
    pd.Timestamp("2024-01-02T03:04:05.123456"),
    pd.Timestamp("2024-01-02", tz="Europe/Paris"),
    pd.Timestamp(np.datetime64("10000-01-01", "s")),
    pd.NaT,
    pd.Timedelta(1, "ns"),
    pd.Timedelta(days=1),
    pd.Timedelta(0),
    Shade.DARK,
    Shade.LIGHT,
    Shade.PAIR,
    Level.LOW,
    Path("data/run 1"),
    Path("/"),
    datetime.date(1, 1, 1),
    datetime.date(9999, 12, 31),
    datetime.datetime(2026, 3, 12, 11, 48, 59, 428485),
    datetime.datetime(2026, 3, 12, 11, 48, tzinfo=datetime.UTC),
    datetime.datetime(
        2026, 3, 12, 17, 18, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    ),
    datetime.datetime.max,
    datetime.datetime.min,
    datetime.time(0, 0),
    datetime.time(23, 59, 59, 999999, tzinfo=datetime.UTC),
    datetime.timedelta(0),
    datetime.timedelta(days=1),
    datetime.timedelta(seconds=90),
    datetime.timedelta(microseconds=-1),
    datetime.timedelta.max,
    datetime.timedelta.min,
    Config("a", 1),
    Pair(1, "b"),
    Pair((), {}),
    (),
    [],
    {},
    ((),),
    {"a": (1, [2, {"b": None}])},
    {Shade.LIGHT: 1, "x": 2},
    {Shade.DARK: 1, 0.5: 2},  # one key twice: refused
    {Config("a", 1): 1},  # a key that is a dataclass: refused
    b"bytes",  # refused
    bytearray(b"x"),  # refused
    Decimal("0.1"),  # refused
    Fraction(1, 3),  # refused
    1 + 2j,  # refused
    {1, 2},  # refused
    object(),  # refused
]

edge_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from(EDGE_INTEGERS),
    st.floats(),
    st.sampled_from(
        [
            0.0,
            -0.0,
            5e-324,
            2.2250738585072014e-308,
            1.7976931348623157e308,
            2.0**53,
            2.0**53 + 2,
            2.0**63,
            2.0**64,
            float("inf"),
            float("nan"),
        ]
    ),
    st.text(max_size=12),
    st.text(alphabet=st.characters(blacklist_categories=()), max_size=6),  # surrogates too
    st.sampled_from(EDGE_STRINGS),
    st.sampled_from(NUMPY_SCALARS),
    st.sampled_from(NUMPY_ARRAYS),
    st.sampled_from(OTHER_VALUES),
)
edge_values = st.recursive(
    edge_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(
            st.one_of(st.text(max_size=3), st.integers(-3, 3), st.none()), inner, max_size=3
        ),
        st.builds(Pair, inner, inner),
        st.builds(Config, st.text(max_size=3), st.integers()),
    ),
    max_leaves=5,
)


def _accepted(value: Any) -> bool:
    try:
        edge_reference(value)
    except TypeError:
        return False
    return True


@settings(max_examples=500, deadline=None)
@given(edge_values)
def test_every_value_is_kept_exactly_or_refused_before_any_cell(value: Any) -> None:
    """A value's key, cell and cell's key agree; what stet refuses, the reference refuses."""
    if not _accepted(value):
        with pytest.raises(UnsupportedValueError):
            key_of(value)
        return
    key = key_of(value)
    assert key_of(value) == key  # no type learns a different key from its first value
    cell = cell_of(value)
    assert key_of_cell(cell) == key
    assert key_of_cell(text_of_cell(cell)) == key
    assert key_of(value_of_cell(text_of_cell(cell))) == key


@settings(max_examples=500, deadline=None)
@given(edge_values, edge_values)
def test_edge_keys_agree_with_the_reference(a: Any, b: Any) -> None:
    if _accepted(a) and _accepted(b):
        assert (key_of(a) == key_of(b)) == (edge_reference(a) == edge_reference(b))


STORE_FORMATS = FORMATS


def new_location(request: pytest.FixtureRequest, fmt: str, directory: Path) -> str:
    """A new store: a file in ``directory``, or a table of its own on the test server."""
    if fmt == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
        return f"{url}{'&' if '?' in url else '?'}table=v_{secrets.token_hex(6)}"
    return str(directory / f"runs.{fmt}")


def forget(location: str) -> None:
    """End this process's hold on a store as an exit would (Parquet compacts its journal
    into a part), so that the next decorated function reads it as a new process does."""
    path = location if "://" in location else os.path.abspath(location)
    store = _registry.pop(path)
    store.settle()
    store._file.close()


def expected_outcomes(values: list[Any], done: list[Any]) -> list[str]:
    """``ran``, ``skipped`` or ``refused`` for each call, by the reference alone."""
    seen = [edge_reference(v) for v in done]
    found = []
    for value in values:
        if not _accepted(value):
            found.append("refused")
            continue
        identity = edge_reference(value)
        found.append("skipped" if identity in seen else "ran")
        seen.append(identity)
    return found


def stored_rows(location: str) -> int:
    """How many records a store holds (none yet: 0; a refused call creates nothing)."""
    handle = Store(location, "store")
    try:
        return len(handle.snapshot().rows)
    except FileNotFoundError:
        return 0
    finally:
        handle._file.close()


def outcome_kinds(found: list[str]) -> list[str]:
    return [f.split(":")[0] for f in found]


# More examples by hand: STET_EDGE_EXAMPLES=500 pytest tests/test_identity.py -k restart
EDGE_EXAMPLES = int(os.environ.get("STET_EDGE_EXAMPLES", "40"))


@pytest.mark.parametrize("fmt", STORE_FORMATS)
@settings(
    max_examples=EDGE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    recorded=st.lists(edge_values, min_size=1, max_size=5),
    fresh=st.lists(edge_values, max_size=4),
)
def test_every_value_survives_a_restart_or_is_refused_before_the_body(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fmt: str,
    recorded: list[Any],
    fresh: list[Any],
) -> None:
    """(a) what was recorded is skipped after a restart, (b) what is not equal to it under
    the rules runs, (c) a value stet cannot keep is refused before the body, every time."""
    location = new_location(request, fmt, tmp_path_factory.mktemp("edge"))
    try:
        first = identity_probe.outcomes(location, recorded)
    finally:
        forget(location)
    assert outcome_kinds(first) == expected_outcomes(recorded, [])
    accepted = [v for v in recorded if _accepted(v)]
    probes = [equal_variant(v) for v in accepted] + fresh
    try:
        again = identity_probe.outcomes(location, probes)
        kept = stored_rows(location)
    finally:
        forget(location)
    assert outcome_kinds(again) == expected_outcomes(probes, accepted)
    assert kept == outcome_kinds(first + again).count("ran")  # a refusal records nothing
    everything = accepted + [v for v in fresh if _accepted(v)]  # two parts, two layouts
    try:
        assert outcome_kinds(identity_probe.outcomes(location, everything)) == (
            ["skipped"] * len(everything)
        )
    finally:
        forget(location)


# ------------------------------------------- what a record needs is refused before the body


def call_refused(location: str, source: str, args: tuple[Any, ...], side: Path) -> str:
    """Define the function ``source`` (its body writes ``side``), decorate it for the
    store and call it; the refusal's text. The body must not have run."""
    namespace: dict[str, Any] = {"SIDE": side}
    exec(source, namespace)
    function = stet.once(store=location, verbose=False)(namespace["f"])
    with pytest.raises(ValueError) as refusal:
        function(*args)
    assert not side.exists(), "the body ran before the refusal"
    return str(refusal.value)


def first_record(location: str, directory: Path) -> list[list[Any]]:
    """Record one run of another function, ``g(x=1)``; the store's rows."""

    @stet.once(store=location, verbose=False)
    def g(x: int) -> None:
        pass

    g(1)
    handle = Store(location, "store")
    try:
        return handle.snapshot().rows
    finally:
        handle._file.close()


BODY = "    open(SIDE, 'w').close()\n"


@pytest.mark.parametrize(
    ("source", "args", "parameter", "why"),
    [
        ("def f(A, a):\n" + BODY, (1, 2), "a", "ignore case"),
        ("def f(X):\n" + BODY, (1,), "X", "ignore case"),  # beside g's column x
        ("def f(rowid, oid, _rowid_):\n" + BODY, (1, 2, 3), "_rowid_", "row id"),
    ],
)
def test_columns_sqlite_cannot_hold_are_refused_before_the_body(
    tmp_path: Path, source: str, args: tuple[Any, ...], parameter: str, why: str
) -> None:
    location = str(tmp_path / "runs.sqlite")
    rows = first_record(location, tmp_path)
    message = call_refused(location, source, args, tmp_path / "ran")
    assert f"parameter {parameter!r}" in message and why in message
    assert f"ignore=[{parameter!r}]" in message
    forget(location)
    assert first_record(location, tmp_path) == rows  # unchanged, and it still opens


def test_a_column_sqlite_refuses_can_be_left_out_of_the_key(tmp_path: Path) -> None:
    location = str(tmp_path / "runs.sqlite")
    ran = []

    @stet.once(store=location, verbose=False, ignore=["a"])
    def f(A: int, a: int) -> None:
        ran.append((A, a))

    f(1, 2)
    f(1, 3)
    assert ran == [(1, 2)]


@pytest.mark.parametrize(
    ("source", "args", "parameter", "why"),
    [
        ("def f(" + "p" * 64 + "):\n" + BODY, (1,), "p" * 64, "63 bytes"),
        ("def f(é" + "e" * 62 + "):\n" + BODY, (1,), "é" + "e" * 62, "63 bytes"),
        ("def f(xmin):\n" + BODY, (1,), "xmin", "system column"),
        ("def f(n, ctid):\n" + BODY, (1, 2), "ctid", "system column"),
    ],
)
def test_columns_postgresql_cannot_hold_are_refused_before_the_body(
    tmp_path: Path,
    postgres_store: str,
    source: str,
    args: tuple[Any, ...],
    parameter: str,
    why: str,
) -> None:
    rows = first_record(postgres_store, tmp_path)
    message = call_refused(postgres_store, source, args, tmp_path / "ran")
    assert f"parameter {parameter!r}" in message and why in message
    forget(postgres_store)
    assert first_record(postgres_store, tmp_path) == rows


@pytest.mark.parametrize("fmt", STORE_FORMATS)
def test_a_numpy_timedelta_in_days_is_recorded_and_skipped_after_a_restart(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str
) -> None:
    location = new_location(request, fmt, tmp_path)
    values = [np.timedelta64(1, "D"), np.timedelta64(1, "D"), np.timedelta64(24, "h")]
    try:
        assert identity_probe.outcomes(location, values) == ["ran", "skipped", "skipped"]
    finally:
        forget(location)
    later = [np.timedelta64(86_400, "s"), datetime.timedelta(days=1), 1, np.timedelta64(1, "W")]
    try:
        assert identity_probe.outcomes(location, later) == ["skipped", "skipped", "ran", "ran"]
    finally:
        forget(location)


@pytest.mark.parametrize("fmt", STORE_FORMATS)
def test_integers_beyond_the_float_range_are_not_infinity_after_a_restart(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str
) -> None:
    location = new_location(request, fmt, tmp_path)
    big = [10**400, -(10**400), 2**53 + 1, 2**63, -(2**63) - 1, 2**64 + 1]
    try:
        assert identity_probe.outcomes(location, big) == ["ran"] * len(big)
    finally:
        forget(location)
    probes = [math.inf, -math.inf, float(2**53), 2**63 - 1, *big, float(2**63)]
    expected = ["ran"] * 4 + ["skipped"] * (len(big) + 1)
    try:
        assert identity_probe.outcomes(location, probes) == expected
    finally:
        forget(location)


def many(count: int) -> str:
    return ", ".join(f"p{i}" for i in range(count))


def test_more_columns_than_sqlite_holds_are_refused_before_the_body(tmp_path: Path) -> None:
    location = str(tmp_path / "runs.sqlite")
    rows = first_record(location, tmp_path)  # g's x: one column more
    source = f"def f({many(1999)}):\n" + BODY
    message = call_refused(location, source, tuple(range(1999)), tmp_path / "ran")
    assert "at most 2000 columns" in message
    forget(location)
    assert first_record(location, tmp_path) == rows
    wide = tmp_path / "wide.sqlite"  # 1999 parameters and the timestamp: as many as it holds
    namespace: dict[str, Any] = {}
    exec(f"def f({many(1999)}):\n    return 1\n", namespace)
    assert stet.once(store=str(wide), verbose=False)(namespace["f"])(*range(1999)) == 1


def test_more_columns_than_postgresql_holds_are_refused_before_the_body(
    tmp_path: Path, postgres_store: str
) -> None:
    rows = first_record(postgres_store, tmp_path)
    source = f"def f({many(1598)}):\n" + BODY
    message = call_refused(postgres_store, source, tuple(range(1598)), tmp_path / "ran")
    assert "at most 1600 columns" in message
    forget(postgres_store)
    assert first_record(postgres_store, tmp_path) == rows


def test_pandas_times_keep_their_nanoseconds() -> None:
    assert key_of(pd.Timedelta(1, "ns")) != key_of(pd.Timedelta(0))
    assert key_of(pd.Timedelta(1, "ns")) == key_of(np.timedelta64(1, "ns"))
    assert key_of(pd.Timedelta(days=1)) == key_of(datetime.timedelta(days=1))
    assert key_of_cell(text_of(pd.Timedelta(1, "ns"))) == key_of(pd.Timedelta(1, "ns"))
    late = pd.Timestamp("2024-01-01T00:00:00.000000001")
    assert key_of(late) == key_of(np.datetime64("2024-01-01T00:00:00.000000001"))
    assert key_of(late) != key_of(pd.Timestamp("2024-01-01"))
    far = pd.Timestamp(np.datetime64("10000-01-01", "s"))  # past Python's datetime
    assert key_of(far) == key_of(np.datetime64("10000-01-01"))
    assert key_of(pd.NaT) == key_of(np.datetime64("NaT"))


@pytest.mark.parametrize("fmt", STORE_FORMATS)
def test_a_kept_result_beyond_the_float_range_comes_back_as_that_integer(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str
) -> None:
    location = new_location(request, fmt, tmp_path)

    def huge(n: int) -> int:
        return 10**400 + n

    try:
        assert stet.once(store=location, results=True, verbose=False)(huge)(1) == 10**400 + 1
    finally:
        forget(location)
    try:
        skipped = stet.once(store=location, results=True, verbose=False)(huge)(1)
    finally:
        forget(location)
    assert skipped == 10**400 + 1 and type(skipped) is int


@pytest.mark.parametrize("fmt", STORE_FORMATS)
def test_a_body_changing_its_argument_in_place_records_the_call_as_made(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str
) -> None:
    """The record is the key the call had, not what the body left in the list or array."""
    location = new_location(request, fmt, tmp_path)
    ran: list[str] = []

    def grow(xs: list[int], weights: Any) -> None:
        ran.append(repr((xs, weights)))
        xs.append(99)
        weights *= 2

    try:
        stet.once(store=location, verbose=False)(grow)([1, 2], np.array([1.0, 2.0]))
    finally:
        forget(location)
    again = stet.once(store=location, verbose=False)(grow)
    try:
        again([1, 2], np.array([1.0, 2.0]))  # the same call: skipped
        assert len(ran) == 1
        again([1, 2, 99], np.array([2.0, 4.0]))  # what the body made: never called before
        assert len(ran) == 2
    finally:
        forget(location)


def test_a_numpy_matrix_is_the_array_of_its_values() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        matrix = np.matrix([[1, 2], [3, 4]])
    assert key_of(matrix) == key_of(np.array([[1, 2], [3, 4]]))
    assert text_of(matrix) == "array([[1, 2], [3, 4]])"
    assert key_of_cell(text_of(matrix)) == key_of(matrix)


def test_a_masked_array_keeps_its_mask() -> None:
    masked = np.ma.array([1, 2], mask=[False, True])
    assert key_of(masked) != key_of(np.array([1, 2]))
    assert key_of_cell(text_of(masked)) == key_of(masked)


def nested(depth: int, inner: Any = 1) -> Any:
    for _ in range(depth):
        inner = [inner]
    return inner


@pytest.mark.parametrize("depth", [1, 100])
def test_values_nested_as_deep_as_python_reads_back_keep_their_key(depth: int) -> None:
    value = nested(depth)
    assert key_of_cell(text_of(value)) == key_of(value)
    in_dicts = nested(depth // 2, {"a": nested(depth - depth // 2 - 1)})
    assert key_of_cell(text_of(in_dicts)) == key_of(in_dicts)


@pytest.mark.parametrize("depth", [101, 201, 5000])
def test_values_nested_deeper_are_refused(depth: int) -> None:
    with pytest.raises(UnsupportedValueError, match="nested at most 100"):
        key_of(nested(depth))
    chain: Any = 1
    for _ in range(depth):
        chain = Pair(chain, None)
    with pytest.raises(UnsupportedValueError, match="nested at most 100"):
        key_of(chain)


@pytest.mark.parametrize("fmt", STORE_FORMATS)
def test_a_run_with_a_long_key_can_be_claimed(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str
) -> None:
    """A key of many values (PostgreSQL indexes at most about 2.7 KB of a claim's key)."""
    location = new_location(request, fmt, tmp_path)
    rng = np.random.default_rng(5)
    values = [tuple(rng.random(1000).tolist()), secrets.token_hex(4000)]
    try:
        assert identity_probe.outcomes(location, values) == ["ran", "ran"]
    finally:
        forget(location)
    try:
        assert identity_probe.outcomes(location, values) == ["skipped", "skipped"]
    finally:
        forget(location)
