"""Stress: 8 processes hammering one store of each format with overlapping grids.

Marked ``stress``: slower than the everyday tests, run by ``.ci/run`` all the same.
Afterwards every run of the union of the grids is recorded exactly once and was executed
exactly once (counted by the body itself, across processes, in one log).
"""

from __future__ import annotations

import random
import signal
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from probes import Driver, run
from test_claims import Log, location, stored

__all__ = ["location"]  # the fixture, re-used: one store of every format

pytestmark = pytest.mark.stress

WORKERS = 8
SPAN, STEP = 400, 100  # worker k runs k*STEP .. k*STEP+SPAN-1: each run in up to 4 grids

HAMMER = """
    import os, random, sys, time
    import stet

    store, log, go, first, span, seed = sys.argv[1:7]
    first, span = int(first), int(span)

    @stet.once(store=store, verbose=False, lease=30.0)
    def work(i):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"start {i} {os.getpid()}\\n".encode())
        time.sleep(random.random() / 1000)
        os.write(fd, f"done {i} {os.getpid()}\\n".encode())
        os.close(fd)

    grid = list(range(first, first + span))
    random.Random(seed).shuffle(grid)
    while not os.path.exists(go):
        time.sleep(0.002)
    for i in grid:
        work(i)
"""


def hammer(tmp_path: Path, location: str, seed: str) -> tuple[list[Driver], Log, int]:
    log, go = tmp_path / "executions.log", tmp_path / f"go-{seed}"
    code = textwrap.dedent(HAMMER)
    workers = [
        Driver(code, tmp_path, location, str(log), str(go), str(k * STEP), str(SPAN), f"{seed}{k}")
        for k in range(WORKERS)
    ]
    go.touch()
    return workers, Log(log), (WORKERS - 1) * STEP + SPAN


@pytest.mark.parametrize("seed", ["a", "b", "c"])
def test_eight_workers_with_overlapping_grids_run_each_run_once(
    tmp_path: Path, location: str, seed: str
) -> None:
    workers, log, total = hammer(tmp_path, location, seed)
    for worker in workers:
        code, _, _ = worker.finish()
        assert code == 0, worker.output()
    assert log.count("start") == Counter(range(total)), "a run executed twice, or never"
    assert log.count("done") == Counter(range(total))
    assert Counter(stored(location)) == Counter(str(i) for i in range(total))


def test_eight_workers_two_killed_then_a_rerun_completes_each_run_once(
    tmp_path: Path, location: str
) -> None:
    """Two of the eight are killed with kill -9 at random moments; one more pass finishes.

    The rerun finds the killed workers' claims (same machine, processes gone) and takes
    them over at once: no run is left undone, and only a run that a killed worker had
    started (and perhaps finished, but not recorded) runs a second time.
    """
    rng = random.Random(location)
    workers, log, total = hammer(tmp_path, location, "k")
    victims = rng.sample(workers, 2)
    for victim in victims:
        target = rng.randrange(50, 300)
        while victim.running() and sum(1 for k, _, p in log.lines() if p == victim.pid) < target:
            time.sleep(0.01)
        victim.kill()
    for worker in workers:
        code, _, _ = worker.finish()
        assert code in (0, -signal.SIGKILL), worker.output()
    rerun = textwrap.dedent(HAMMER)
    run(rerun, tmp_path, location, str(log.path), str(tmp_path / "go-k"), "0", str(total), "r")
    killed = {v.pid for v in victims}
    assert set(log.count("done")) == set(range(total)), "a run never completed"
    again = {i: log.who("start", i) for i, n in log.count("start").items() if n > 1}
    # Only a run a killed worker had started, and not recorded, runs again: every start
    # but the last is a killed worker's, and each killed worker had one call running (a
    # run the first victim left may be taken over by the second, killed in it too).
    interrupted = [pid for starts in again.values() for pid in starts[:-1]]
    assert set(interrupted) <= killed and len(interrupted) == len(set(interrupted)), again
    for i, starts in again.items():
        assert starts[-1] in log.who("done", i), (i, starts)
    assert Counter(stored(location)) == Counter(str(i) for i in range(total))
