"""Promise 7, Shareable (and 4, Failure is not completion): many threads and processes on
one store, ``fork`` and ``spawn`` pools, raw ``os.fork``, pickling, exceptions.

Real processes, real locks, real ``fork``; nothing is mocked. Without claims two
processes may both execute one point; the store must still hold each run once. The
workers and drivers are in ``probes/workers.py``.
"""

from __future__ import annotations

import json
import pickle
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from probes import Driver, executions, read_store, run, wait_until, workers

import stet

SWEEP = (
    "import sys; from probes import workers; "
    "workers.concurrent_sweep(sys.argv[1], sys.argv[2], int(sys.argv[3]))"
)


def sweep_at_once(tmp_path: Path, functions: list[str], count: int) -> None:
    """One process per entry of ``functions``, all released at once over one grid."""
    go, ready = tmp_path / "go", tmp_path / "go.ready"
    drivers = [Driver(SWEEP, tmp_path, str(go), function, str(count)) for function in functions]
    try:
        wait_until(
            lambda: (
                (ready.exists() and len(ready.read_text().split()) == len(drivers))
                or not all(driver.running() for driver in drivers)
            )  # finish() says why
        )
        go.touch()
        for driver in drivers:
            code, _, _ = driver.finish()
            assert code == 0, driver.output()
    finally:
        for driver in drivers:
            driver.kill_session()


def runs(store: Path) -> Counter[tuple[str, int]]:
    """Every record of a store of ``workers`` functions: (function, i), with repeats."""
    _, rows = read_store(store)
    assert len(pd.read_csv(store)) == len(rows)
    counted: Counter[tuple[str, int]] = Counter()
    for row in rows:
        counted["labelled" if row.get("label") else "point", int(row["i"])] += 1
    return counted


def check_each_once(store: Path, expected: set[tuple[str, int]]) -> None:
    counted = runs(store)
    doubled = sorted(run for run, count in counted.items() if count > 1)
    assert not doubled, f"recorded more than once: {doubled}"
    assert set(counted) == expected, f"lost: {sorted(expected - set(counted))}"


# -- many processes, one grid


def test_processes_sweeping_one_grid_at_once(tmp_path: Path) -> None:
    sweep_at_once(tmp_path, ["slow_point"] * 4, 300)
    check_each_once(tmp_path / "store.csv", {("point", i) for i in range(300)})
    ran = Counter(int(a) for _, _, a in executions(tmp_path))
    assert set(ran) == set(range(300))  # twice is allowed without claims; never is not
    print(f"{sum(ran.values()) - 300} points executed by two processes at once")


def test_processes_of_two_functions_start_one_store_at_once(tmp_path: Path) -> None:
    """The first records race to create the store and then to widen its header."""
    sweep_at_once(tmp_path, ["point", "labelled", "point", "labelled"], 200)
    expected = {(f, i) for f in ("point", "labelled") for i in range(200)}
    check_each_once(tmp_path / "store.csv", expected)
    run(
        "from probes import workers\n"
        "assert [workers.point(i) for i in range(200)] == [None] * 200\n"
        "assert [workers.labelled(i) for i in range(200)] == [None] * 200\n",
        tmp_path,
    )


@pytest.mark.stress
def test_many_processes_sweeping_one_grid_at_once(tmp_path: Path) -> None:
    sweep_at_once(tmp_path, ["point", "labelled"] * 4, 10000)
    expected = {(f, i) for f in ("point", "labelled") for i in range(10000)}
    check_each_once(tmp_path / "store.csv", expected)


@pytest.mark.parametrize("where", ["between-calls", "refresh-open"])
def test_a_store_another_process_creates_after_this_one_opened_it(
    tmp_path: Path, where: str
) -> None:
    """A worker opens the store before any worker has created its file; another one
    then creates it and records. The first must see those records: skip them, record
    after them, and read the file's header rather than take it for a record.

    ``refresh-open``: the first worker is stopped inside its next call, after finding
    no file and before opening it (see ``workers.pause_at``): deterministic, not a race.
    """
    ready, go = tmp_path / "ready", tmp_path / "go"
    driver = Driver(
        "import sys; from probes import workers; workers.appear_while_open(*sys.argv[1:])",
        tmp_path,
        str(ready),
        str(go),
        where,
    )
    try:
        wait_until(ready.exists, driver)
        run(
            "from probes import workers; assert [workers.refuse_odd(i) for i in (0, 2)] == [0, 2]",
            tmp_path,
        )
        go.touch()
        code, _, _ = driver.finish()
        assert code == 0, driver.output()
    finally:
        driver.kill_session()
    _, rows = read_store(tmp_path / "store.csv")
    assert sorted(int(row["i"]) for row in rows) == [0, 2, 4]
    ran = Counter(int(a) for _, _, a in executions(tmp_path))
    assert ran == {0: 1, 1: 1, 2: 1, 4: 1}  # 2 ran once, in the process that recorded it


@pytest.mark.stress
def test_processes_start_a_new_store_at_once_again_and_again(tmp_path: Path) -> None:
    """The race to create a store, run many times over (each round a new store)."""
    for round_ in range(40):
        directory = tmp_path / str(round_)
        directory.mkdir()
        sweep_at_once(directory, ["point", "labelled"] * 2, 30)
        expected = {(f, i) for f in ("point", "labelled") for i in range(30)}
        check_each_once(directory / "store.csv", expected)


# -- many threads, one process


def check_threads(tmp_path: Path, threads: int, count: int) -> None:
    store = tmp_path / "store.csv"
    errors = workers.threads_sweep(str(store), threads, count)
    assert not errors, "\n".join(errors)
    _, rows = read_store(store)
    counted = Counter(("left", row["i"]) if row.get("i") else ("right", row["j"]) for row in rows)
    assert set(counted.values()) == {1}, sorted(r for r, c in counted.items() if c > 1)
    assert set(counted) == {(side, str(i)) for side in ("left", "right") for i in range(count)}


def test_threads_of_one_process(tmp_path: Path) -> None:
    check_threads(tmp_path, threads=8, count=200)


@pytest.mark.stress
def test_many_threads_of_one_process(tmp_path: Path) -> None:
    check_threads(tmp_path, threads=32, count=5000)


# -- fork and spawn


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_process_pool_records_into_one_store(tmp_path: Path, method: str) -> None:
    """Workers record what the parent did not; the parent then skips every point."""
    driver = Driver(
        "import sys, os; from probes import workers; "
        "print(os.getpid()); workers.pool_sweep(sys.argv[1], 40, 5)",
        tmp_path,
        method,
    )
    code, out, _ = driver.finish()
    assert code == 0, driver.output()
    parent = int(out.split()[0])
    check_each_once(tmp_path / "store.csv", {("point", i) for i in range(40)})
    ran = executions(tmp_path)
    assert sorted(int(a) for _, _, a in ran) == list(range(40))  # each once, in all
    assert {pid for pid, _, a in ran if int(a) < 5} == {parent}
    assert parent not in {pid for pid, _, a in ran if int(a) >= 5}  # the workers ran those


def test_a_raw_fork_child_records_while_its_parent_records(tmp_path: Path) -> None:
    run("from probes import workers; workers.fork_sweep(50, 50)", tmp_path)
    expected = {("point", i) for i in [*range(51), *range(1000, 1050)]}
    check_each_once(tmp_path / "store.csv", expected)
    pids = {pid for pid, _, a in executions(tmp_path) if int(a) >= 1000}
    others = {pid for pid, _, a in executions(tmp_path) if int(a) < 1000}
    assert len(pids) == 1 and not pids & others  # the child ran its points, only it


@pytest.mark.parametrize("same_key", [True, False], ids=["same-key", "other-key"])
@pytest.mark.parametrize("where", ["before-write", "after-write", "before-index"])
def test_fork_while_another_thread_is_inside_record(
    tmp_path: Path, where: str, same_key: bool
) -> None:
    """A thread stops inside ``Store.record`` holding the store's lock; the main thread
    forks. The child must not deadlock (it waits for the lock only as long as the
    parent's thread holds it) and the store must hold each run once.

    The thread stops at an exact instant (see ``workers.pause_at``), so the case is
    deterministic, not a race that a test would hit now and then.
    """
    child_key = 7 if same_key else 8
    run(
        "import sys; from probes import workers; "
        "workers.fork_while_recording(sys.argv[1], int(sys.argv[2]))",
        tmp_path,
        where,
        str(child_key),
    )
    check_each_once(tmp_path / "store.csv", {("point", i) for i in {0, 7, child_key}})


# -- pickling


def test_pickle_keeps_a_decorated_function_by_reference() -> None:
    data = pickle.dumps(workers.point)
    assert b"workers" in data and b"point" in data and len(data) < 100
    assert pickle.loads(data) is workers.point  # spawn workers load it the same way


def test_cloudpickle_carries_a_function_from_main_by_value(tmp_path: Path) -> None:
    """Defined in ``__main__`` of one process, called in another whose working directory
    differs: the record lands in the store the first process named, resolved when it
    decorated the function."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    carried = tmp_path / "measure.pickle"
    run(
        """
import sys
import cloudpickle
import stet

@stet.once(store="store.csv", verbose=False)
def measure(alpha, beta=2):
    print("ran", alpha)
    return alpha * beta

assert measure(1) == 2
with open(sys.argv[1], "wb") as out:
    cloudpickle.dump(measure, out)
""",
        first,
        str(carried),
    )
    out = run(
        """
import json, pickle, sys
with open(sys.argv[1], "rb") as handle:
    measure = pickle.load(handle)
print(json.dumps([measure(3), measure(1), measure(3, beta=2), measure.store]))
""",
        second,
        str(carried),
    )
    *lines, results = out.splitlines()
    assert lines == ["ran 3"]
    assert json.loads(results) == [6, None, None, "store.csv"]
    assert not (second / "store.csv").exists()
    _, rows = read_store(first / "store.csv")
    assert sorted((row["alpha"], row["beta"]) for row in rows) == [("1", "2"), ("3", "2")]


# -- exceptions


class Boom(Exception):
    pass


@pytest.mark.parametrize(
    "error",
    [Boom("the very object"), ValueError(1, 2), KeyboardInterrupt(), SystemExit(3)],
    ids=lambda error: type(error).__name__,
)
def test_an_exception_propagates_unchanged_and_records_nothing(
    tmp_path: Path, error: BaseException
) -> None:
    store = tmp_path / "store.csv"
    calls: list[int] = []

    @stet.once(store=store, verbose=False)
    def explode(i: int) -> int:
        calls.append(i)
        if i == 1:
            raise error
        return i

    for attempt in (1, 2):
        with pytest.raises(type(error)) as raised:
            explode(1)
        assert raised.value is error
        assert raised.value.__cause__ is None and not raised.value.__suppress_context__
        assert raised.traceback[-1].name == "explode"  # raised there, not re-raised by stet
        assert calls == [1] * attempt  # a failure is not completion: it runs again
        assert not store.exists() or not read_store(store)[1]
    assert explode(2) == 2 and explode(2) is None
    assert [row["i"] for row in read_store(store)[1]] == ["2"]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_exceptions_across_processes_record_nothing(tmp_path: Path, method: str) -> None:
    run(
        "import sys; from probes import workers; workers.pool_refusals(sys.argv[1], 10)",
        tmp_path,
        method,
    )
    _, rows = read_store(tmp_path / "store.csv")
    assert sorted(int(row["i"]) for row in rows) == [0, 2, 4, 6, 8]
    ran = Counter(int(a) for _, _, a in executions(tmp_path))
    assert ran == {i: 2 if i % 2 else 1 for i in range(10)}  # in a worker, then here
