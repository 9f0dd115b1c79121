"""Promise 3, Durability: ``kill -9`` at any instant loses no record of a call that
returned, and never leaves a store that fails to open.

Real processes, real SIGKILL, real torn bytes on disk; nothing is mocked. The workers
and drivers are in ``probes/workers.py``.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from probes import Driver, cut_torn_tail, executions, read_store, run, wait_until

import stet

SWEEP = (
    "import sys; from probes import workers; "
    "workers.crash_sweep(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:]))"
)
OPEN = (  # a call opens it
    "import sys; from probes import workers; workers.sweep_functions(sys.argv[1])[0](0, 0.0)"
)


def lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def sweep_keys(rows: list[dict[str, str]]) -> list[tuple[str, int]]:
    """The run each row of the crash sweep's store stands for: (function, argument)."""
    keys = []
    for row in rows:
        if row.get("i"):
            i = int(row["i"])
            assert float(row["x"]) == i / 10 and not row.get("block"), row
            keys.append(("cell", i))
        else:
            assert row["block"] and not row["x"], row
            keys.append(("summary", int(row["block"])))
    return keys


def store_opens(store: Path, rows: int, capsys: pytest.CaptureFixture[str]) -> None:
    """pandas reads the store and ``stet.status`` counts its records."""
    capsys.readouterr()
    frame = pd.read_csv(store)
    assert len(frame) == rows
    stet.status(store)
    assert f"{rows:,} completed experiment" in capsys.readouterr().out


def kill_and_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rounds: int, cells: int, seed: int
) -> None:
    """Start the sweep, SIGKILL it at a random moment, check the store, start it again."""
    rng = random.Random(seed)
    store, returned = tmp_path / "store.csv", tmp_path / "returned.log"
    per_block = 25
    args = (str(store), str(returned), str(cells), str(per_block))
    grid = {("cell", i) for i in range(cells)} | {("summary", b) for b in range(cells // per_block)}
    kills = torn = 0
    for number in range(rounds):
        done_before = set(sweep_keys(read_store(store)[1])) if store.exists() else set()
        ran_before = len(executions(tmp_path))
        driver = Driver(SWEEP, tmp_path, *args)
        if number % 4 == 0:  # any moment: start-up, opening the store, sweeping
            time.sleep(rng.uniform(0, 0.1))
        else:  # some calls into this round, then a moment inside a call
            target = lines_in(returned) + rng.randint(1, 30)
            wait_until(lambda t=target, d=driver: lines_in(returned) >= t or not d.running())
        driver.kill()
        code, _, err = driver.finish()
        assert code in (-signal.SIGKILL, 0), f"round {number} (seed {seed}): {err}"
        if code == 0:
            break  # the sweep finished before the kill
        kills += 1
        # SIGKILL can cut a write short where it crosses a page boundary: our own notes
        # lose their last line then, and the store may end inside a record, which the
        # next process to open it must set aside.
        cut_torn_tail(returned)
        cut_torn_tail(tmp_path / "executions.log")
        data = store.read_bytes() if store.exists() else b""
        tail = data[data.rfind(b"\n") + 1 :]
        if tail:
            torn += 1
            torn_file = tmp_path / "store.csv.torn"
            run(OPEN, tmp_path, str(store))
            assert torn_file.read_bytes().endswith(tail + b"\n"), (tail, torn_file.read_bytes())

        _, rows = read_store(store) if store.exists() else ([], [])
        keys = sweep_keys(rows)
        doubled = [key for key, count in Counter(keys).items() if count > 1]
        assert not doubled, f"round {number} (seed {seed}): recorded twice: {doubled}"
        notes = returned.read_text().splitlines() if returned.exists() else []
        reported = {(f, int(a)) for f, a in (line.split() for line in notes)}
        lost = reported - set(keys)
        assert not lost, f"round {number} (seed {seed}): returned, not recorded: {lost}"
        ran = {(f, int(a)) for _, f, a in executions(tmp_path)[ran_before:]}
        assert not ran & done_before, f"round {number}: ran again: {ran & done_before}"
        if store.exists():
            store_opens(store, len(rows), capsys)
    assert kills >= min(rounds, 10), f"only {kills} of {rounds} rounds were killed mid-sweep"
    print(f"{kills} kills, {torn} of them cut a record short")

    run(SWEEP, tmp_path, *args)  # the last start runs to the end
    keys = sweep_keys(read_store(store)[1])
    assert sorted(keys) == sorted(grid)  # the whole grid, each run exactly once
    counts = Counter((f, int(a)) for _, f, a in executions(tmp_path))
    assert set(counts) == grid
    # a kill between a body's return and its record costs one execution, no more
    assert sum(counts.values()) - len(grid) <= kills
    ran_before = len(executions(tmp_path))
    run(SWEEP, tmp_path, *args)
    assert len(executions(tmp_path)) == ran_before  # a fresh process skips every call
    assert sorted(sweep_keys(read_store(store)[1])) == sorted(grid)


@pytest.mark.parametrize(
    ("rounds", "cells"),
    [(32, 4000), pytest.param(200, 20000, marks=pytest.mark.stress, id="many-times")],
)
def test_kill_minus_nine_at_random_moments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rounds: int, cells: int
) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    kill_and_resume(tmp_path, capsys, rounds=rounds, cells=cells, seed=seed)


def kill_among_writers(tmp_path: Path, writers: int, kills: int, cells: int, seed: int) -> None:
    """Several processes sweep one grid at once; one of them, at random, is killed and
    started again, over and over. A killed writer never blocks the others (its lock dies
    with it) and loses no record of a call that returned."""
    rng = random.Random(seed)
    store = tmp_path / "store.csv"
    started: list[tuple[Driver, Path]] = []

    def launch() -> tuple[Driver, Path]:
        returned = tmp_path / f"returned-{len(started)}.log"
        driver = Driver(SWEEP, tmp_path, str(store), str(returned), str(cells), "25")
        started.append((driver, returned))
        return driver, returned

    running = [launch() for _ in range(writers)]
    for _ in range(kills):
        time.sleep(rng.uniform(0, 0.05))
        slot = rng.randrange(writers)
        driver, returned = running[slot]
        driver.kill()
        code, _, err = driver.finish()
        assert code in (-signal.SIGKILL, 0), f"seed {seed}: {err}"
        cut_torn_tail(returned)  # a kill can cut the last note short
        running[slot] = launch()
    for driver, _ in running:
        code, _, _ = driver.finish()
        assert code == 0, f"seed {seed}: {driver.output()}"

    run(OPEN, tmp_path, str(store))  # sets aside a record a kill may have cut short
    keys = sweep_keys(read_store(store)[1])
    grid = [("cell", i) for i in range(cells)] + [("summary", b) for b in range(cells // 25)]
    assert sorted(keys) == sorted(grid), f"seed {seed}"  # each run once, none lost
    for _, returned in started:
        for line in returned.read_text().splitlines() if returned.exists() else []:
            function, argument = line.split()
            assert (function, int(argument)) in keys


def test_kill_minus_nine_among_concurrent_writers(tmp_path: Path) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    kill_among_writers(tmp_path, writers=3, kills=20, cells=3000, seed=seed)


@pytest.mark.stress
def test_kill_minus_nine_among_many_concurrent_writers(tmp_path: Path) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    kill_among_writers(tmp_path, writers=4, kills=150, cells=10000, seed=seed)


# -- kill -9 at named instants inside stet (the thread stops there; see workers.pause_at)

HANG = (
    "import sys; from probes import workers; "
    "workers.hang_at(sys.argv[1], sys.argv[2], sys.argv[3] == 'fork')"
)


def recorded(store: Path) -> Counter[tuple[str, int]]:
    """(function, argument) of every record of the store of workers.point/refuse_odd."""
    _, rows = read_store(store)
    return Counter((row.get("_stet_function") or "point", int(row["i"])) for row in rows)


@pytest.mark.parametrize("where", ["start", "before-write", "after-write", "before-rename"])
def test_kill_minus_nine_at_a_named_instant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    ready, store = tmp_path / "ready", tmp_path / "store.csv"
    driver = Driver(HANG, tmp_path, where, str(ready), "no-fork")
    wait_until(ready.exists, driver)
    driver.kill()
    code, _, err = driver.finish()
    assert code == -signal.SIGKILL, err

    done = {0, 1} if where != "start" else set()
    if where == "after-write":
        done.add(2)  # the line was written: the call did not return, but it completed
    if done:
        assert recorded(store) == Counter(("point", i) for i in done)
        store_opens(store, len(done), capsys)
    else:
        assert not store.exists() or not read_store(store)[1]

    before = len(executions(tmp_path))
    out = run(
        "import json; from probes import workers; "
        "print(json.dumps([workers.point(i) for i in range(4)] + [workers.refuse_odd(2)]))",
        tmp_path,
    )
    assert json.loads(out) == [None if i in done else 2 * i for i in range(4)] + [2]
    ran = [(f, int(a)) for _, f, a in executions(tmp_path)[before:]]
    assert sorted(ran) == sorted(
        [("point", i) for i in range(4) if i not in done] + [("refuse_odd", 2)]
    )
    everything = Counter([*(("point", i) for i in range(4)), ("refuse_odd", 2)])
    assert recorded(store) == everything
    store_opens(store, 5, capsys)


def test_kill_minus_nine_holding_the_lock_while_a_forked_child_lives(tmp_path: Path) -> None:
    """A process forks a child, then is killed while it holds the store's lock.

    The child, idle, still has every descriptor it inherited. No other process may wait
    for the lock of a dead holder (a flock lock lives while any descriptor of its open
    file does); nor may the child, once it records.
    """
    ready = tmp_path / "ready"
    driver = Driver(HANG, tmp_path, "before-write", str(ready), "fork")
    try:
        wait_until(ready.exists, driver)
        driver.kill()
        code, _, err = driver.finish()
        assert code == -signal.SIGKILL, err
        # the child is idle; 30 s, not 60, keeps the everyday run short while this fails
        run("from probes import workers; assert workers.point(3) == 6", tmp_path, timeout=30)
        (tmp_path / "ready.go").touch()  # now the orphaned child records too
        wait_until((tmp_path / "ready.done").exists)
    finally:
        driver.kill_session()  # the orphaned child, if it is still there
    assert recorded(tmp_path / "store.csv") == Counter(("point", i) for i in (0, 1, 3, 5))


# -- torn last lines, written on purpose


TORN_TAILS = {
    "first cell cut": b"1",
    "timestamp cut": b"10,2026-03-12T11:4",
    "half a character": b"10,2026-03-12T11:48:59.4\xe2\x82",
    "open quote": b'"10',
}
RECORD_TEN = (
    "from probes import workers; "
    "assert [workers.point(i) for i in range(10)] == [2 * i for i in range(10)]"
)
SKIP_TEN = (
    "from probes import workers; "
    "r = [workers.point(i) for i in range(10)]; assert r == [None] * 10, r"
)


def check_valid_with(store: Path, points: range) -> None:
    _, rows = read_store(store)
    assert sorted(int(row["i"]) for row in rows) == list(points)
    assert len(pd.read_csv(store)) == len(points)


@pytest.mark.parametrize("tail", TORN_TAILS.values(), ids=TORN_TAILS.keys())
def test_a_torn_last_line_is_set_aside_when_a_process_opens_the_store(
    tmp_path: Path, tail: bytes
) -> None:
    store, torn = tmp_path / "store.csv", tmp_path / "store.csv.torn"
    run(RECORD_TEN, tmp_path)
    intact = store.read_bytes()
    with open(store, "ab") as out:
        out.write(tail)  # a writer stopped mid-line: half a record, no newline

    out = run(SKIP_TEN, tmp_path)  # every earlier record still skips
    assert len(executions(tmp_path)) == 10
    said = [line for line in out.splitlines() if line.startswith("[stet]") and torn.name in line]
    assert said, out
    assert torn.read_bytes() == tail + b"\n"
    assert store.read_bytes() == intact  # a valid CSV again, every complete record kept
    check_valid_with(store, range(10))

    # the torn run was not done
    run("from probes import workers; assert workers.point(10) == 20", tmp_path)
    check_valid_with(store, range(11))


@pytest.mark.parametrize("tail", TORN_TAILS.values(), ids=TORN_TAILS.keys())
def test_a_torn_last_line_is_set_aside_by_a_process_that_has_the_store_open(
    tmp_path: Path, tail: bytes
) -> None:
    store, torn = tmp_path / "store.csv", tmp_path / "store.csv.torn"
    run(RECORD_TEN, tmp_path)
    run(
        f"{SKIP_TEN}\n"
        "import os, sys\n"
        "fd = os.open(workers.STORE, os.O_WRONLY | os.O_APPEND)\n"
        "os.write(fd, bytes.fromhex(sys.argv[1]))  # another writer dies mid-line\n"
        "os.close(fd)\n"
        "assert workers.point(10) == 20 and workers.point(5) is None\n",
        tmp_path,
        tail.hex(),
    )
    assert torn.read_bytes() == tail + b"\n"
    check_valid_with(store, range(11))
    assert sorted(int(a) for _, _, a in executions(tmp_path)) == list(range(11))


def test_a_last_record_missing_only_its_newline_is_kept(tmp_path: Path) -> None:
    store = tmp_path / "store.csv"
    run(RECORD_TEN, tmp_path)
    whole = store.read_bytes()
    store.write_bytes(whole[:-1])  # the record of point 9 is complete but for its newline

    run(SKIP_TEN, tmp_path)  # point 9 counts as done
    assert len(executions(tmp_path)) == 10
    assert not (tmp_path / "store.csv.torn").exists()
    assert store.read_bytes() == whole
    run("from probes import workers; assert workers.point(10) == 20", tmp_path)
    check_valid_with(store, range(11))  # the next record starts on its own line
