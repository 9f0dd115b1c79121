"""``@stet.once(results=True)``: return values kept in the store and given back on a skip,
in this process and after a restart, in every format.

A restart is a fresh interpreter running ``probes/results.py`` on the same store; each
execution of a body is noted in a log file with its own write, so a test sees that the
second process ran nothing. What a call gives back is compared by :func:`shape`, which
tells ``1`` from ``1.0``, ``True``, ``"1"``, a list from a tuple, ``-0.0`` from ``0.0`` and
a NumPy scalar from a Python number.

Known limit (documented here, not fought): Parquet and PostgreSQL keep a column of
numbers in a typed column, so a column holding both whole and fractional numbers is a
float column there, and a whole-number result in it comes back as the equal float after
a restart.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np
import pandas as pd
import pytest
from formats import FILE_FORMATS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from probes import results as results_probe
from probes.results import SCALARS, expected, shape
from test_identity import TRICKY_STRINGS

import stet
from stet._admin import status_data
from stet._store import Store

TYPED_NUMBERS = ("parquet", "postgresql")  # a column of numbers is typed: the known limit
PROBE = Path(results_probe.__file__)
TESTS = PROBE.parent.parent


@pytest.fixture(autouse=True)
def _fresh_source() -> Iterator[None]:
    """``results_probe.SOURCE`` and its log are this test's alone."""
    results_probe.SOURCE.clear()
    yield
    results_probe.SOURCE.clear()
    results_probe.LOG[0] = None


def format_of(location: str) -> str:
    return "postgresql" if location.startswith("postgresql://") else location.rsplit(".", 1)[1]


class Probe:
    """What one run of ``probes/results.py`` printed."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.lines = output.splitlines()
        self.calls = [json.loads(line) for line in self.lines if line.startswith("{")]
        self.stet = [line for line in self.lines if line.startswith("[stet] ")]

    def got(self, call: str) -> list[Any]:
        """What each call of ``call`` returned, in order (an exception fails the test)."""
        found = [c for c in self.calls if c["call"] == call]
        raised = [c for c in found if "raised" in c]
        assert not raised, raised
        return [c["got"] for c in found]


def probe(location: str, log: Path, mode: str, argument: object = "") -> Probe:
    """Run ``probes/results.py`` on ``location`` in a fresh interpreter; it must exit 0."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, str(PROBE), location, str(log), mode, str(argument)],
        cwd=log.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return Probe(done.stdout)


def executions(log: Path) -> list[str]:
    """Every execution of a probe body so far: ``<function> <i>``."""
    return log.read_text().splitlines() if log.exists() else []


def header(location: str) -> list[str]:
    """The store's columns, as stet reads them."""
    return Store(location, "store").snapshot().header


def contents(location: str) -> object:
    """Everything a store holds: the bytes of its file (or of every file of its
    directory), or the header and rows of a PostgreSQL table."""
    if format_of(location) == "postgresql":
        snapshot = Store(location, "store").snapshot()
        return snapshot.header, [list(row) for row in snapshot.rows]
    path = Path(location)
    if path.is_dir():  # Parquet: what this process recorded moves into parts first
        Store(location, "store").snapshot()
        files = [*sorted(path.rglob("*")), Path(f"{location}.journal")]
        return {str(p.relative_to(path.parent)): p.read_bytes() for p in files}
    return path.read_bytes()


# ------------------------------------------------------------- the round trip, restarts


def catalog_expectations() -> list[tuple[str, int, Any, Any]]:
    """Every call of the probe's ``catalog`` mode: (function, i, returned, given back)."""
    calls: list[tuple[str, int, Any, Any]] = []
    for i, value in enumerate(SCALARS):
        calls.append(("scalar", i, value, expected(value)))
    makers = {
        "metrics": results_probe.metrics_of,
        "measured": results_probe.measured_of,
        "maybe": results_probe.maybe_of,
        "pair": results_probe.pair_of,
    }
    for name, make in makers.items():
        for i in range(results_probe.RECORDS):
            calls.append((name, i, make(i), make(i)))
    return calls


def test_results_come_back_on_a_skip_here_and_after_a_restart(
    location: str, tmp_path: Path
) -> None:
    log = tmp_path / "executions.log"
    calls = catalog_expectations()

    first = probe(location, log, "catalog")
    ran = executions(log)
    assert ran == [f"{name} {i}" for name, i, _, _ in calls]  # each call ran once
    for name in ("scalar", "metrics", "measured", "maybe", "pair"):
        mine = [c for c in calls if c[0] == name]
        got = first.got(name)
        # the call that ran returns the body's own value; the skip right after it the
        # value the store keeps
        assert got[0::2] == [shape(returned) for _, _, returned, _ in mine], name
        assert got[1::2] == [shape(back) for _, _, _, back in mine], name
    assert sum("[stet] Skipping " in line for line in first.stet) == len(calls)

    second = probe(location, log, "catalog")
    assert executions(log) == ran  # the restart executed no body
    for name in ("scalar", "metrics", "measured", "maybe", "pair"):
        back = [shape(b) for n, _, _, b in calls if n == name]
        assert second.got(name) == [x for x in back for _ in range(2)], name
    assert sum("[stet] Skipping " in line for line in second.stet) == 2 * len(calls)


def test_dict_dataclass_and_named_tuple_results_are_columns(location: str, tmp_path: Path) -> None:
    functions = results_probe.functions(location, verbose=False)
    functions["metrics"](1)
    functions["measured"](2)
    functions["pair"](3)
    columns = header(location)
    assert columns[0] == "i"
    assert set(columns[1:]) == {
        *(f"result.{key}" for key in results_probe.metrics_of(1)),
        "result.loss",
        "result.steps",
        "result.tags",
        "result.note",
        "result.x",
        "result.label",
        "_stet_function",  # three functions share the store
        "_stet_timestamp",
    }
    if format_of(location) == "csv":  # the layout of the announcement: stet's own columns last
        assert columns[-2:] == ["_stet_function", "_stet_timestamp"]
    found = stet.records(location)
    assert [r["_stet_function"] for r in found] == ["metrics", "measured", "pair"]
    assert {k: v for k, v in found[0].items() if k.startswith("result.")} == {
        f"result.{key}": value for key, value in results_probe.metrics_of(1).items()
    }
    assert found[2]["result.x"] == 3 and found[2]["result.label"] == "p3"
    assert status_data(location)["result_columns"] == [c for c in columns if "result." in c]


def test_results_without_the_option_keep_only_parameters_and_a_timestamp(
    location: str, tmp_path: Path
) -> None:
    log = tmp_path / "executions.log"
    first = probe(location, log, "plain")
    assert first.got("scalar") == [shape(v) for v in SCALARS]  # a call that runs: its value
    assert header(location) == ["i", "_stet_timestamp"]
    assert status_data(location)["result_columns"] == []
    again = probe(location, log, "plain")
    assert again.got("scalar") == [["None"]] * len(SCALARS)  # a skip: None
    assert len(executions(log)) == len(SCALARS)


def test_runs_recorded_before_results_were_switched_on_give_none(
    location: str, tmp_path: Path
) -> None:
    log = tmp_path / "executions.log"
    probe(location, log, "plain")
    switched = probe(location, log, "catalog")
    assert switched.got("scalar") == [["None"]] * (2 * len(SCALARS))
    assert [line for line in executions(log) if line.startswith("scalar ")] == [
        f"scalar {i}" for i in range(len(SCALARS))
    ]  # only the plain run executed them
    # runs recorded with results=True from the start give their results back
    got = switched.got("pair")
    assert got[1::2] == [shape(results_probe.pair_of(i)) for i in range(results_probe.RECORDS)]


def test_in_this_process_runs_recorded_without_results_give_none(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.csv")
    results_probe.SOURCE.update({0: 1.5, 1: "x"})
    plain = results_probe.functions(store, results=False, verbose=False)["scalar"]
    assert plain(0) == 1.5 and plain(0) is None
    keeping = results_probe.functions(store, verbose=False)["scalar"]
    assert keeping(0) is None  # recorded before results=True: nothing to give back
    assert keeping(1) == "x" and keeping(1) == "x"


def test_a_whole_number_in_a_float_column_is_a_float_in_typed_formats(
    location: str, tmp_path: Path
) -> None:
    """The known limit: Parquet and PostgreSQL type a column of numbers, so 1 next to 2.5
    comes back as 1.0 after a restart (an equal value); the other formats keep 1."""
    values = [1, 2.5, 7]
    log = tmp_path / "executions.log"
    written = probe(location, log, "literal", repr(values)).got("scalar")
    assert written == [shape(v) for v in values]  # the calls that ran: their own values
    back = probe(location, log, "readback", len(values)).got("scalar")
    assert len(executions(log)) == len(values)  # the second process ran nothing
    if format_of(location) in TYPED_NUMBERS:
        assert back == [shape(float(v)) for v in values]  # equal values, as floats
    else:
        assert back == [shape(v) for v in values]


def test_a_column_of_whole_numbers_stays_whole_in_every_format(
    location: str, tmp_path: Path
) -> None:
    values = [3, -1, 2**62, 0]
    results_probe.SOURCE.update(enumerate(values))
    scalar = results_probe.functions(location, verbose=False)["scalar"]
    assert [scalar(i) for i in range(len(values))] == values
    back = probe(location, tmp_path / "executions.log", "readback", len(values)).got("scalar")
    assert back == [shape(v) for v in values]


def test_a_record_class_is_rebuilt_from_the_return_annotation(tmp_path: Path) -> None:
    """``-> Metrics``, ``-> Metrics | None``, ``-> Optional[Metrics]``: a skip gives back a
    ``Metrics``; a function without the annotation cannot keep one (see the refusals)."""
    store = str(tmp_path / "runs.csv")
    made = results_probe.Metrics(loss=0.5, steps=3, tags=[1, (2, "x")], note="n")

    def direct(i: int) -> results_probe.Metrics:
        return made

    def union(i: int) -> results_probe.Metrics | None:
        return made if i else None

    def optional(i: int) -> Optional[results_probe.Metrics]:  # noqa: UP045
        return made

    def pair(i: int) -> results_probe.Pair:
        return results_probe.Pair(i, "p")

    for body in (direct, union, optional):
        decorated = stet.once(store=store, results=True, verbose=False)(body)
        assert decorated(1) is made  # the call that runs returns the body's own object
        back = decorated(1)
        assert type(back) is results_probe.Metrics and back == made, body.__name__
        assert type(back.tags[1]) is tuple
    maybe = stet.once(store=store, results=True, verbose=False)(union)
    assert maybe(0) is None and maybe(0) is None
    tupled = stet.once(store=store, results=True, verbose=False)(pair)
    assert tupled(4) == (4, "p") and type(tupled(4)) is results_probe.Pair


# ------------------------------------------------------------- refusals


class Point(NamedTuple):
    x: int


@dataclass
class Unannotated:
    loss: float


REFUSED: dict[str, tuple[Any, str]] = {
    "numpy-array": (
        np.arange(3.0),
        (
            r"NumPy array \(shape \(3,\)\).*To keep a large value .*"
            r'@stet.once\(outputs="data", results=True\) keeps it as a file'
        ),
    ),
    "object": (object(), r"a object would not come back as one.*return its path"),
    "nested-dict": ({"a": {"b": 1}}, r"result 'a'.*dict inside a result; results are flat"),
    "dict-in-tuple": ((1, {"a": 1}), r"dict inside a result"),
    "array-in-dict": ({"a": np.zeros(2)}, r"result 'a'.*NumPy array"),
    "int-key": ({1: 2}, r"dict with the key 1; .*needs non-empty text keys"),
    "empty-key": ({"": 2}, r"dict with the key ''; .*needs non-empty text keys"),
    "long-list": (list(range(400)), r"too large for a cell \(1,890 characters\)"),
    "long-tuple-in-dict": ({"a": tuple(range(400))}, r"result 'a'.*too large for a cell"),
    "complex": (1j, r"a complex would not come back"),
    "bytes": (b"x", r"a bytes would not come back"),
    "dataclass-unannotated": (
        Unannotated(0.5),
        r"returned a Unannotated instance.*annotate the function's return type "
        r"\(-> Unannotated\) with a class defined at module level, or return a dict",
    ),
    "named-tuple-unannotated": (Point(1), r"annotate the function's return type \(-> Point\)"),
}


def test_results_stet_cannot_keep_are_refused_and_record_nothing(location: str) -> None:
    """Each refusal: a TypeError naming the way out, the store unchanged, the run's claim
    released, and the next call of the same run runs again."""
    results_probe.SOURCE[0] = 0.5
    functions = results_probe.functions(location, verbose=False, failures="record")
    scalar = functions["scalar"]
    assert scalar(0) == 0.5
    before = contents(location)
    for number, (case, (value, message)) in enumerate(REFUSED.items(), start=1):
        results_probe.SOURCE[number] = value
        for _ in range(2):  # refused, and refused again: nothing marked it done or failed
            with pytest.raises(TypeError, match=message) as refused:
                scalar(number)
            assert str(refused.value).endswith("Nothing was recorded."), case
            assert contents(location) == before, case
            assert status_data(location)["running"] == [], case  # the claim is released
    assert [r["i"] for r in stet.records(location)] == [0]
    assert stet.records(location, failed=True) == []  # not a failure of the run either
    results_probe.SOURCE[1] = "fine now"
    assert scalar(1) == "fine now" and scalar(1) == "fine now"


def test_a_refused_result_in_a_sweep_counts_as_failed_and_records_nothing(
    tmp_path: Path,
) -> None:
    store = str(tmp_path / "runs.csv")
    results_probe.SOURCE.update({0: 1, 1: np.ones(2), 2: (2, "b")})
    scalar = results_probe.functions(store, verbose=False)["scalar"]
    summary = stet.sweep(scalar, {"i": range(3)}, progress=False)
    assert (summary.ran, summary.failed) == (2, 1)
    assert summary.failures[0].call == "scalar(i=1)"
    assert summary.failures[0].error.startswith("TypeError: scalar(): stet cannot store")
    assert [(r["i"], r["result"]) for r in stet.records(store)] == [(0, 1), (2, (2, "b"))]
    assert scalar(2) == (2, "b")


def test_a_parameter_named_result_is_refused_with_results(tmp_path: Path) -> None:
    store = tmp_path / "runs.csv"

    def body(alpha: float, result: str) -> float:
        return alpha

    with pytest.raises(ValueError, match=r"parameter 'result' would share its column") as error:
        stet.once(store=store, results=True)(body)
    assert "rename the parameter or list it in ignore" in str(error.value)
    ignoring = stet.once(store=store, results=True, ignore=["result"], verbose=False)(body)
    assert ignoring(0.5, "a") == 0.5 and ignoring(0.5, "b") == 0.5  # "b": the same run
    assert header(str(store)) == ["alpha", "result", "_stet_timestamp"]
    assert stet.records(store) == [
        {"alpha": 0.5, "result": 0.5, "_stet_timestamp": stet.records(store)[0]["_stet_timestamp"]}
    ]


def test_a_parameter_named_result_without_results_is_a_key_column(tmp_path: Path) -> None:
    """Without ``results=True``, a parameter may be named ``result`` (existing stores keep
    working): the function's own index reads that column as the key it is.

    (Store-wide reports cannot tell such a column from a scalar result's, so ``status``
    lists it under "Result columns": a documented limit, not tested here.)
    """
    store = str(tmp_path / "runs.csv")
    ran: list[tuple[int, int]] = []

    @stet.once(store=store, verbose=False, failures="skip")
    def graded(result: int, attempt: int) -> None:
        ran.append((result, attempt))
        if attempt:
            raise ValueError(f"retry {result}")

    graded(1, 0)
    graded(2, 0)
    for result in (1, 2):
        with pytest.raises(ValueError):
            graded(result, 1)
    for result in (1, 2):  # completed, or failed before: every one is skipped
        for attempt in (0, 1):
            assert graded(result, attempt) is None
    graded(3, 0)  # a new value of result is a new run
    assert ran == [(1, 0), (2, 0), (1, 1), (2, 1), (3, 0)]
    assert [r["result"] for r in stet.records(store)] == [1, 2, 3]
    assert [r["result"] for r in stet.records(store, failed=True)] == [1, 2]


def test_an_empty_dict_result_comes_back_as_an_empty_dict_or_is_refused(
    location: str,
) -> None:
    """Only what comes back equal and of the same type is kept: ``{}`` may not come
    back as ``None``."""
    results_probe.SOURCE.update({0: {}, 1: 1})
    scalar = results_probe.functions(location, verbose=False)["scalar"]
    assert scalar(1) == 1
    before = contents(location)
    try:
        returned = scalar(0)
    except TypeError as refused:
        assert str(refused).endswith("Nothing was recorded.")
        assert contents(location) == before
        return
    assert returned == {}
    assert scalar(0) == {}  # the skip


# ------------------------------------------------------------- readable, async


def test_a_results_csv_reads_with_pandas(tmp_path: Path) -> None:
    store = tmp_path / "runs.csv"

    @stet.once(store=store, results=True, verbose=False)
    def experiment(alpha: float, seed: int) -> dict[str, Any]:
        return {"loss": alpha * seed + 0.5, "steps": seed * 10, "ok": seed % 2 == 0, "tag": "a"}

    for seed in range(3):
        experiment(0.1, seed)
    frame = pd.read_csv(store)
    assert list(frame.columns) == [
        "alpha",
        "seed",
        "result.loss",
        "result.steps",
        "result.ok",
        "result.tag",
        "_stet_timestamp",
    ]
    assert str(frame["result.loss"].dtype) == "float64"
    assert str(frame["result.steps"].dtype) == "int64"
    assert str(frame["result.ok"].dtype) == "bool"
    assert frame["result.loss"].tolist() == [0.5, 0.6, 0.7]
    assert frame["result.steps"].tolist() == [0, 10, 20]
    assert frame["result.ok"].tolist() == [True, False, True]
    assert frame["result.tag"].tolist() == ["a", "a", "a"]


def test_an_async_function_gives_its_result_back(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.csv")
    ran: list[int] = []

    @stet.once(store=store, results=True, verbose=False)
    async def fetch(i: int) -> dict[str, Any]:
        ran.append(i)
        return {"value": i / 2, "items": [i, "x"]}

    async def main() -> list[Any]:
        return [await fetch(i) for i in (1, 2, 1, 2)]

    assert asyncio.run(main()) == [
        {"value": v, "items": [i, "x"]} for i, v in [(1, 0.5), (2, 1.0)] * 2
    ]
    assert ran == [1, 2]


# ------------------------------------------------------------- a property, file formats

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-5, max_value=5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.1, 1.0, 2.0**53, 1e300]),
    st.sampled_from(TRICKY_STRINGS),
    st.text(alphabet=st.sampled_from(list("ab1.,\"'[]() \n\\e-")), max_size=8),
    st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.builds(np.float64, st.floats(allow_nan=False)),
    st.builds(np.bool_, st.booleans()),
)
storable = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple)),
    max_leaves=6,
)
flat_dicts = st.dictionaries(
    st.text(alphabet=st.sampled_from(list("abc_ .1")), min_size=1, max_size=3),
    storable,
    min_size=1,
    max_size=3,
)


def same_after_restart(fmt: str, got: Any, want: Any, column: list[Any]) -> bool:
    """``got`` is ``want``'s shape; or, the known limit, a whole number in a typed column of
    whole and fractional numbers came back as the equal float."""
    if got == shape(want):
        return True
    numbers = all(type(v) in (int, float) for v in column)
    return (
        fmt in TYPED_NUMBERS
        and numbers
        and type(want) is int
        and got == shape(float(want))
        and float(want) == want
    )


_stores = itertools.count()


@pytest.mark.parametrize("fmt", FILE_FORMATS)
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(st.one_of(storable, flat_dicts), min_size=1, max_size=8))
def test_any_storable_result_survives_a_restart(fmt: str, values: list[Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="stet-results-") as directory:
        store = str(Path(directory) / f"runs{next(_stores)}.{fmt}")
        results_probe.SOURCE.clear()
        results_probe.SOURCE.update(enumerate(values))
        scalar = results_probe.functions(store, verbose=False)["scalar"]
        assert [shape(scalar(i)) for i in range(len(values))] == [shape(v) for v in values]
        wants = [expected(v) for v in values]
        assert [shape(scalar(i)) for i in range(len(values))] == [shape(w) for w in wants]
        log = Path(directory) / "executions.log"
        back = probe(store, log, "readback", len(values)).got("scalar")
        assert executions(log) == []
        column = [w for w in wants if type(w) is not dict]
        for got, want in zip(back, wants, strict=True):
            if type(want) is dict:  # one column per key; each key's values must be kept
                assert got[0] == "dict" and got[1].keys() == want.keys()
                for key, item in want.items():
                    others = [w[key] for w in wants if type(w) is dict and key in w]
                    assert same_after_restart(fmt, got[1][key], item, others), (got, want)
            else:
                assert same_after_restart(fmt, got, want, column), (got, want)


@pytest.mark.parametrize(
    "values",
    [
        [0.1, -0.0, math.nan, math.inf, -math.inf, 1e300, 5e-324, 1 / 3],
        [0.5, 2.0, -0.0, 1e15, 1e16, "a"],  # a column of floats that then takes text
        [0.5, 2.0, -0.0, (1,)],
    ],
    ids=["floats", "floats-then-text", "floats-then-tuple"],
)
def test_floats_keep_their_bits(location: str, tmp_path: Path, values: list[Any]) -> None:
    """Written by one process that exits (Parquet compacts its journal then), read back
    by another."""
    log = tmp_path / "executions.log"
    assert probe(location, log, "literal", repr(values)).got("scalar") == list(map(shape, values))
    back = probe(location, log, "readback", len(values)).got("scalar")
    assert len(executions(log)) == len(values)
    assert back == [shape(v) for v in values]
