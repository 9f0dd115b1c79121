"""``stet.records`` and ``stet.load``: a store's runs as Python values and as a typed
pandas DataFrame, in every format; ``load`` without pandas installed.

The stores are written through ``@stet.once`` (parameters, results, failure records, a
second function) and read back fresh from their files or tables.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import stet

# pandas' own text dtype: "str" from pandas 3 on, object before
TEXT = "str" if int(pd.__version__.split(".")[0]) >= 3 else "object"


NAMES = ["plain", "None", "1.5", "", 'a, "b"\nc ü']


def outcome(i: int) -> dict[str, Any]:
    """The result of ``experiment`` for run ``i``: one column of each kind."""
    return {
        "loss": i / 4 + 0.125,
        "n": 2**40 + i,
        "ok": i % 2 == 0,
        "label": NAMES[i % len(NAMES)],
        "pair": (i, "p"),
        "items": [i, [i, "x"]],
        "mixed": i if i % 2 else f"s{i}",
    }


def arguments(i: int) -> tuple[int, float, str, bool, tuple[int, ...]]:
    return i, i + 0.5, NAMES[i % len(NAMES)], i % 3 == 0, (i, i + 1)


def fill(location: str, count: int = 5) -> tuple[Any, Any]:
    """``experiment`` over ``count`` runs, run 1 failing first and completing after, run
    ``count`` failing for good; then ``other`` once. Returns both functions."""

    failing = {1, count}

    def experiment(i: int, x: float, name: str, flag: bool, shape: tuple[int, ...]) -> Any:
        if i in failing:
            raise ValueError(f"bad {i}")
        return outcome(i)

    def other(k: int) -> int:
        return k

    experiment.__qualname__, other.__qualname__ = "experiment", "other"  # their labels
    decorated = stet.once(store=location, verbose=False, results=True, failures="record")
    first = decorated(experiment)
    for i in [*range(count), count]:
        with contextlib.suppress(ValueError):
            first(*arguments(i))
    failing.discard(1)
    first(*arguments(1))
    second = stet.once(store=location, verbose=False)(other)
    second(7)
    return first, second


def run_order(count: int = 5) -> list[int]:
    """The order ``fill`` completes ``experiment``'s runs in."""
    return [i for i in range(count) if i != 1] + [1]


def zone(frame: pd.DataFrame) -> str:
    """The time zone of a frame's ``_stet_timestamp`` column (it must have one)."""
    dtype = frame["_stet_timestamp"].dtype
    assert isinstance(dtype, pd.DatetimeTZDtype), dtype
    return str(dtype.tz)


# ------------------------------------------------------------- records


def test_records_are_python_values_in_the_order_recorded(location: str) -> None:
    before = datetime.now(UTC)
    fill(location)
    after = datetime.now(UTC)
    found = stet.records(location)
    assert len(found) == 6  # five completed runs of experiment, one of other
    for record, i in zip(found, run_order(), strict=False):
        i_, x, name, flag, shape = arguments(i)
        assert {k: v for k, v in record.items() if k != "_stet_timestamp"} == {
            "i": i_,
            "x": x,
            "name": name,
            "flag": flag,
            "shape": shape,
            **{f"result.{k}": v for k, v in outcome(i).items()},
            "_stet_function": "experiment",
        }
        assert type(record["i"]) is int and type(record["flag"]) is bool
        assert type(record["shape"]) is tuple and type(record["result.items"]) is list
        assert type(record["result.items"][1]) is list and type(record["result.pair"]) is tuple
    assert {k: v for k, v in found[-1].items() if k != "_stet_timestamp"} == {
        "k": 7,
        "_stet_function": "other",
    }
    stamps = [r["_stet_timestamp"] for r in found]
    assert all(type(s) is datetime and s.utcoffset() == timedelta(0) for s in stamps)
    assert stamps == sorted(stamps)
    assert before - timedelta(seconds=1) <= stamps[0] and stamps[-1] <= after + timedelta(seconds=1)


def test_records_of_a_one_function_store_have_no_function_column(location: str) -> None:
    @stet.once(store=location, verbose=False)
    def single(alpha: float, tag: str = "x") -> None:
        pass

    single(0.1)
    single(0.2, "y")
    found = stet.records(location)
    assert [sorted(r) for r in found] == [["_stet_timestamp", "alpha", "tag"]] * 2
    assert [(r["alpha"], r["tag"]) for r in found] == [(0.1, "x"), (0.2, "y")]


def test_records_filter_by_values_function_and_failure(location: str) -> None:
    fill(location)
    chosen = stet.records(location, {"x": 2.5})
    assert [r["i"] for r in chosen] == [2]
    assert stet.records(location, {"x": "2.5"}) == chosen  # the text the store shows
    assert [r["i"] for r in stet.records(location, {"name": "None"})] == [1]  # the string
    assert stet.records(location, {"flag": True, "i": 3}) == [
        r for r in stet.records(location) if r.get("i") == 3
    ]
    assert stet.records(location, {"i": 5}) == []  # it only failed
    assert [r["i"] for r in stet.records(location, function="experiment")] == run_order()
    (seven,) = stet.records(location, function="other")
    assert sorted(seven) == ["_stet_timestamp", "k"] and seven["k"] == 7  # no label: one function
    assert stet.records(location, function="nobody") == []

    failed = stet.records(location, failed=True)
    assert [(r["i"], r["_stet_error"]) for r in failed] == [
        (1, "ValueError: bad 1"),
        (5, "ValueError: bad 5"),
    ]
    assert all(not any(k.startswith("result") for k in r) for r in failed)
    assert all(r["_stet_timestamp"].utcoffset() == timedelta(0) for r in failed)
    assert stet.records(location, {"i": 5}, failed=True) == failed[1:]
    assert stet.records(location, function="other", failed=True) == []

    with pytest.raises(ValueError, match=r"has no column 'beta'; its columns are: i, x, name"):
        stet.records(location, {"beta": 1})


def test_records_of_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        stet.records(tmp_path / "none.csv")
    with pytest.raises(FileNotFoundError):
        stet.load(tmp_path / "none.csv")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------- load


def test_load_gives_typed_columns(location: str) -> None:
    fill(location)
    frame = stet.load(location, function="experiment")
    assert list(frame.columns) == [
        "i",
        "x",
        "name",
        "flag",
        "shape",
        *(f"result.{k}" for k in outcome(0)),
        "_stet_timestamp",  # one function's runs: no _stet_function
    ]
    dtypes = {c: str(t) for c, t in frame.dtypes.items()}
    assert dtypes == {
        "i": "int64",
        "x": "float64",
        "name": TEXT,
        "flag": "bool",
        "shape": "object",
        "result.loss": "float64",
        "result.n": "int64",
        "result.ok": "bool",
        "result.label": TEXT,
        "result.pair": "object",
        "result.items": "object",
        "result.mixed": "object",
        "_stet_timestamp": dtypes["_stet_timestamp"],
    }
    stamp = frame["_stet_timestamp"].dtype
    assert isinstance(stamp, pd.DatetimeTZDtype) and str(stamp.tz) == "UTC"
    assert dtypes["_stet_timestamp"].startswith("datetime64[")
    assert dtypes["_stet_timestamp"].endswith(", UTC]")
    assert frame["i"].tolist() == run_order()  # one row per completed run, in order
    assert frame["result.n"].tolist() == [2**40 + i for i in run_order()]
    assert frame["name"].tolist() == [NAMES[i % len(NAMES)] for i in run_order()]
    assert frame["shape"].tolist() == [(i, i + 1) for i in run_order()]
    assert frame["result.items"].tolist() == [[i, [i, "x"]] for i in run_order()]
    records = stet.records(location, function="experiment")
    assert [s.to_pydatetime() for s in frame["_stet_timestamp"]] == [
        r["_stet_timestamp"] for r in records
    ]


def test_load_of_several_functions_marks_missing_values(location: str) -> None:
    fill(location)
    frame = stet.load(location)
    assert len(frame) == 6  # five completed runs of experiment, one of other; no failures
    assert "_stet_error" not in frame.columns
    assert frame["_stet_function"].tolist() == ["experiment"] * 5 + ["other"]
    dtypes = {c: str(t) for c, t in frame.dtypes.items()}
    assert dtypes["i"] == "Int64" and dtypes["k"] == "Int64"
    assert dtypes["flag"] == "boolean" and dtypes["result.ok"] == "boolean"
    assert dtypes["x"] == "float64" and math.isnan(frame["x"].iloc[-1])
    assert frame["i"].isna().tolist() == [False] * 5 + [True]
    assert frame["k"].tolist()[-1] == 7 and frame["k"].isna().sum() == 5
    assert zone(frame) == "UTC"


def test_load_of_failures(location: str) -> None:
    fill(location)
    frame = stet.load(location, failed=True)
    assert frame["i"].tolist() == [1, 5]
    assert frame["_stet_error"].tolist() == ["ValueError: bad 1", "ValueError: bad 5"]
    assert str(frame["_stet_error"].dtype) == TEXT
    assert not any(c.startswith("result") for c in frame.columns)
    assert zone(frame) == "UTC"
    assert stet.load(location, {"i": 5}, failed=True)["i"].tolist() == [5]


def test_load_filters_like_records(location: str) -> None:
    fill(location)
    assert stet.load(location, {"x": "2.5"})["i"].tolist() == [2]
    assert stet.load(location, {"flag": True}, function="experiment")["i"].tolist() == [0, 3]
    assert stet.load(location, function="other")["k"].tolist() == [7]


def test_load_of_a_store_without_completed_runs(location: str) -> None:
    @stet.once(store=location, verbose=False, failures="record")
    def doomed(seed: int) -> None:
        raise RuntimeError("no")

    for seed in range(2):
        with pytest.raises(RuntimeError):
            doomed(seed)
    frame = stet.load(location)
    assert len(frame) == 0 and "seed" in frame.columns and "_stet_error" not in frame.columns
    assert zone(frame) == "UTC"
    assert stet.records(location) == []
    assert len(stet.load(location, failed=True)) == 2


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([1, 2, 3], "int64"),
        ([1, 2.5, 3], "float64"),
        ([0.5, math.nan, math.inf], "float64"),
        ([True, False], "bool"),
        ([2**70, 1], "object"),
        ([2**63 - 1, -(2**63)], "int64"),
        ([2**60 + 1, 0.5], "object"),  # no float holds 2**60 + 1
        ([1, "1"], "object"),
        ([1, True], "object"),
        ([None, 1], "object"),
        (["a", "b"], TEXT),
        ([(1,), (2, 3)], "object"),
    ],
    ids=lambda v: repr(v)[:30] if isinstance(v, list) else v,
)
def test_load_chooses_the_dtype_the_values_share(
    location: str, values: list[Any], dtype: str
) -> None:
    @stet.once(store=location, verbose=False, results=True)
    def score(i: int) -> Any:
        return values[i]

    for i in range(len(values)):
        score(i)
    frame = stet.load(location)
    assert str(frame["result"].dtype) == dtype
    got = frame["result"].tolist()
    for value, back in zip(values, got, strict=True):
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(back)
        else:
            assert back == value and (dtype != "object" or type(back) is type(value))


# ------------------------------------------------------------- without pandas

BLOCK_PANDAS = """
import sys

class BlockPandas:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError(f"No module named {name!r} (blocked)")
        return None

sys.meta_path.insert(0, BlockPandas())
"""


def test_load_without_pandas_says_what_to_install(tmp_path: Path) -> None:
    store = tmp_path / "runs.csv"
    fill(str(store))
    code = BLOCK_PANDAS + textwrap.dedent(
        """
        import stet
        assert "pandas" not in sys.modules and "numpy" not in sys.modules, "import stet"
        found = stet.records(sys.argv[1])
        print("records", len(found), found[0]["i"], found[0]["result.pair"])
        try:
            stet.load(sys.argv[1])
        except ImportError as error:
            print("ImportError:", error)
        assert "pandas" not in sys.modules
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "records 6 0 (0, 'p')"
    message = lines[1]
    assert message.startswith("ImportError: stet.load needs pandas")
    assert "stet[pandas]" in message and "stet.records" in message
    assert len(lines) == 2  # one line: no traceback


def test_import_stet_imports_neither_pandas_nor_numpy() -> None:
    code = (
        "import sys, stet\n"
        "stet.records, stet.load, stet.status, stet.reset, stet.once\n"
        "print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
