"""``stet.sweep`` on real executors: process pools (spawn, fork, forkserver), a real Dask
``LocalCluster`` of worker processes, Ctrl-C (a real SIGINT), and workers that die.

Every sweep runs in a fresh interpreter that runs ``sweep_script.py`` (written into the
test's directory) as its ``__main__``, as a user's script would: the swept function is
defined there, so it travels to a pool's workers by reference (the workers import the
script) and to Dask's workers by value (cloudpickle). The script reads what to do from a
JSON file and prints each sweep's summary as a ``SUMMARY {...}`` line. Each execution of
the function's body appends ``start <i> <seed> <pid>`` and, when the body returns,
``done <i> <seed> <pid>`` to a log with single ``O_APPEND`` writes, so the tests count
executions as well as records.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from probes import Driver, read_store

TIMEOUT = 120.0  # seconds: only so that a hang fails the test instead of CI

SCRIPT = """
    import dataclasses, faulthandler, json, multiprocessing, os, signal, sys, time
    from concurrent.futures import ProcessPoolExecutor

    import stet

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a hang shows every stack
    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even where whoever started the
    # tests left SIGINT ignored (a job started with & by a shell without job control)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    with open(sys.argv[1]) as handle:
        CONFIG = json.load(handle)
    LOG = CONFIG["log"]
    SLEEP = CONFIG["sleep"]
    FAIL = CONFIG["fail"]  # [i, seed] of the runs that raise
    KILL = CONFIG["kill"]  # [i, seed] of the run whose first execution kills its process
    MARKER = CONFIG["marker"]  # exists once that run killed its process
    HOLD = CONFIG["hold"]  # when set, each run waits for this file before it returns


    def note(text):
        fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{text} {os.getpid()}\\n".encode())
        finally:
            os.close(fd)


    @stet.once(store=CONFIG["store"], verbose=False)
    def work(i, seed=0):
        note(f"start {i} {seed}")
        if [i, seed] == KILL and not os.path.exists(MARKER):
            open(MARKER, "x").close()
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(SLEEP)
        deadline = time.monotonic() + 120
        while HOLD and not os.path.exists(HOLD) and time.monotonic() < deadline:
            time.sleep(0.01)
        if [i, seed] in FAIL:
            raise ValueError(f"refusing i={i} seed={seed}")  # the user's raising line
        note(f"done {i} {seed}")
        return i


    def main():
        kind = CONFIG["executor"]
        client = cluster = None
        if kind == "dask":
            from distributed import Client, LocalCluster

            cluster = LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
            executor = client.get_executor()
        else:
            method = kind.split(":")[1]
            executor = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(method))
        try:
            go = CONFIG["go"]
            if go:
                with open(go + ".ready", "a") as ready:
                    ready.write(f"{os.getpid()}\\n")
                while not os.path.exists(go):
                    time.sleep(0.005)
            for grid in CONFIG["grids"]:
                summary = stet.sweep(
                    work, grid, executor=executor, progress=False,
                    max_failures=CONFIG["max_failures"],
                )
                print("SUMMARY " + json.dumps(dataclasses.asdict(summary)), flush=True)
        finally:
            executor.shutdown(wait=True)
            if client is not None:
                client.close()
                cluster.close()


    if __name__ == "__main__":
        main()
"""

RUN_SCRIPT = "import runpy; runpy.run_path('sweep_script.py', run_name='__main__')"

Run = tuple[int, int]  # (i, seed)


def grid(count_i: int, count_seed: int = 5) -> dict[str, list[int]]:
    """A dict of axes: ``count_i * count_seed`` runs, ``i`` varying slowest."""
    return {"i": list(range(count_i)), "seed": list(range(count_seed))}


def runs_of(axes: dict[str, list[int]]) -> set[Run]:
    return {(i, seed) for i in axes["i"] for seed in axes["seed"]}


class Place:
    """One test's directory: the script, its store and its execution log."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.store = directory / "runs.csv"
        self.log = directory / "executions.log"
        self.marker = directory / "killed"
        self.hold = directory / "hold"
        self.drivers: list[Driver] = []
        (directory / "sweep_script.py").write_text(textwrap.dedent(SCRIPT))

    def start(
        self,
        executor: str,
        grids: list[dict[str, list[int]]],
        *,
        name: str = "sweep",
        sleep: float = 0.0,
        fail: Sequence[Run] = (),
        kill: Run | None = None,
        hold: bool = False,
        go: Path | None = None,
        max_failures: int | None = None,
    ) -> Driver:
        """Start the script: sweep each grid in turn on one executor (``pool:<method>``
        or ``dask``)."""
        config = {
            "store": str(self.store),
            "log": str(self.log),
            "executor": executor,
            "grids": grids,
            "sleep": sleep,
            "fail": [list(run) for run in fail],
            "kill": list(kill) if kill is not None else None,
            "marker": str(self.marker),
            "hold": str(self.hold) if hold else "",
            "go": str(go) if go is not None else "",
            "max_failures": max_failures,
        }
        path = self.directory / f"{name}.json"
        path.write_text(json.dumps(config))
        driver = Driver(RUN_SCRIPT, self.directory, str(path))
        self.drivers.append(driver)
        return driver

    def sweep(self, executor: str, grids: list[dict[str, list[int]]], **options: Any) -> Ended:
        """Run the script to its end; it must exit 0."""
        ended = finish(self.start(executor, grids, **options))
        assert ended.code == 0, ended.output
        return ended

    def executions(self, what: str = "start") -> Counter[Run]:
        """How often each run's body started (or returned: ``done``)."""
        return Counter((i, seed) for kind, i, seed, _ in self.log_lines() if kind == what)

    def log_lines(self) -> list[tuple[str, int, int, int]]:
        if not self.log.exists():
            return []
        text = self.log.read_text()
        parsed = []
        for line in text[: text.rfind("\n") + 1].splitlines():  # whole lines only
            kind, i, seed, pid = line.split()
            parsed.append((kind, int(i), int(seed), int(pid)))
        return parsed

    def stored(self) -> Counter[Run]:
        """The runs the store holds, read strictly: every line whole, valid, stamped."""
        if not self.store.exists():
            return Counter()
        _, rows = read_store(self.store)
        return Counter((int(row["i"]), int(row["seed"])) for row in rows)

    def records(self) -> int:
        """Complete lines in the store past its header (read while workers append)."""
        if not self.store.exists():
            return 0
        return max(self.store.read_bytes().count(b"\n") - 1, 0)

    def status(self, axes: dict[str, list[int]]) -> str:
        """What ``stet.status(store, grid=...)`` prints in a new process."""
        code = "import json, sys, stet; stet.status(sys.argv[1], grid=json.loads(sys.argv[2]))"
        done = subprocess.run(
            [sys.executable, "-c", code, str(self.store), json.dumps(axes)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        )
        return done.stdout


class Ended:
    """A finished script: exit code, output, and the summaries it printed."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err
        self.summaries: list[dict[str, Any]] = [
            json.loads(line[len("SUMMARY ") :])
            for line in out.splitlines()
            if line.startswith("SUMMARY ")
        ]

    @property
    def output(self) -> str:
        return f"exit code {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"

    def summary_line(self) -> dict[str, int]:
        """The counts of the last ``[stet] Sweep of work: ...`` summary line."""
        lines = summary_lines(self.out)
        assert lines, self.output
        return parse_summary_line(lines[-1])


def finish(driver: Driver) -> Ended:
    """Wait for the script to end; on a hang, print every stack of its processes and fail."""
    try:
        code = driver.process.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGUSR1)  # faulthandler prints every thread's stack
        time.sleep(2)
        driver.kill_session()
        driver.process.wait()
        raise AssertionError(
            f"still running after {TIMEOUT} s: a hang?\n{driver.output()}"
        ) from None
    return Ended(code, *driver.output_parts())


SUMMARY_LINE = re.compile(
    r"\[stet\] Sweep of work: (?P<done>[\d,]+)/(?P<total>[\d,]+) done "
    r"\((?P<before>[\d,]+) before\); (?P<parts>.*), in .+$"
)
PARTS = {
    "ran": "ran",
    "failed": "failed",
    "running in other workers": "running_elsewhere",
    "done by other workers": "done_elsewhere",
    "not started": "not_run",
}


def summary_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if SUMMARY_LINE.match(line)]


def parse_summary_line(line: str) -> dict[str, int]:
    """``[stet] Sweep of work: 12/40 done (0 before); 12 ran, 28 not started, in 3.1 s``."""
    match = SUMMARY_LINE.match(line)
    assert match is not None, line
    counts = dict.fromkeys(PARTS.values(), 0)
    counts.update(
        done=int(match["done"].replace(",", "")),
        total=int(match["total"].replace(",", "")),
        done_before=int(match["before"].replace(",", "")),
    )
    for part in match["parts"].split(", "):
        number, _, what = part.partition(" ")
        counts[PARTS[what]] = int(number.replace(",", ""))
    return counts


def adds_up(summary: dict[str, Any]) -> bool:
    """Every run of the grid is counted once in a summary."""
    counted = (
        summary["done_before"]
        + summary["ran"]
        + summary["failed"]
        + summary["running_elsewhere"]
        + summary["done_elsewhere"]
        + summary["not_run"]
    )
    return bool(counted == summary["total"])


def wait_for(condition: Callable[[], bool], driver: Driver, what: str) -> None:
    """Poll ``condition``; fail if the driver exits first, or after TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if not driver.running():
            raise AssertionError(f"the script ended before {what}\n{driver.output()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {TIMEOUT} s for {what}\n{driver.output()}")
        time.sleep(0.01)


def stdout_of(driver: Driver) -> str:
    return driver.output_parts()[0]


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Place]:
    """The test's directory; at the end, every process the test started is gone."""
    here = Place(tmp_path)
    try:
        yield here
    finally:
        for driver in here.drivers:
            if driver.running():
                driver.kill_session()
                driver.process.wait()
            driver.kill_session()  # pool or cluster processes it may have left behind


# -- 1. a process pool


@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
def test_a_pool_sweep_runs_every_run_once_and_a_rerun_submits_nothing(
    place: Place, method: str
) -> None:
    axes, wider = grid(8), grid(10)
    first = place.sweep(f"pool:{method}", [axes])
    (summary,) = first.summaries
    assert summary["total"] == 40 and summary["done_before"] == 0, summary
    assert summary["ran"] == 40 and summary["failed"] == summary["not_run"] == 0, summary
    assert adds_up(summary) and not summary["interrupted"] and not summary["stopped"]
    assert "[stet] Sweep of work: 0/40 done; running 40" in first.out
    assert "[stet] Sweep of work: 40/40 done (0 before); 40 ran, in " in first.out
    assert place.stored() == Counter(runs_of(axes)), "every run recorded exactly once"
    assert place.executions() == Counter(runs_of(axes)), "every run executed exactly once"
    assert place.executions("done") == Counter(runs_of(axes))
    pids = {pid for _, _, _, pid in place.log_lines()}
    assert 1 <= len(pids) <= 2 and first.code == 0, "the pool's two workers ran them"
    assert place.drivers[0].pid not in pids, "runs ran in the pool, not in the script"

    # a rerun (a new process, a new pool) submits nothing; a wider grid runs only its new runs
    again = place.sweep(f"pool:{method}", [axes, wider], name="again")
    rerun, extended = again.summaries
    assert "[stet] Sweep of work: all 40 runs are done; nothing to run" in again.out
    assert rerun["done_before"] == rerun["total"] == 40 and rerun["ran"] == 0, rerun
    assert extended["total"] == 50 and extended["done_before"] == 40, extended
    assert extended["ran"] == 10 and adds_up(extended), extended
    assert "[stet] Sweep of work: 40/50 done; running 10" in again.out
    new = runs_of(wider) - runs_of(axes)
    assert place.executions() == Counter(runs_of(axes)) + Counter(new), "only new runs ran"
    assert place.stored() == Counter(runs_of(wider))


# -- 2. failures in the workers


def test_failures_in_workers_are_counted_with_their_tracebacks_and_not_recorded(
    place: Place,
) -> None:
    axes = grid(8)
    failing = {(1, 0), (4, 3), (6, 1)}
    ended = place.sweep("pool:spawn", [axes], fail=sorted(failing))
    (summary,) = ended.summaries
    assert summary["failed"] == 3 and summary["ran"] == 37 and adds_up(summary), summary
    assert not summary["stopped"], "without max_failures a failure does not stop the sweep"
    failures = summary["failures"]
    assert {(f["parameters"]["i"], f["parameters"]["seed"]) for f in failures} == failing
    script = str(place.directory / "sweep_script.py")
    worker_pids = {pid for kind, _, _, pid in place.log_lines()}
    for failure in failures:
        i, seed = failure["parameters"]["i"], failure["parameters"]["seed"]
        assert failure["call"] == f"work(i={i}, seed={seed})", failure
        assert failure["error"] == f"ValueError: refusing i={i} seed={seed}", failure
        trace = failure["traceback"]
        # the traceback came back from the worker process, with the user's own raising line
        assert 'raise ValueError(f"refusing i={i} seed={seed}")' in trace, trace
        assert f'File "{script}"' in trace and ", in work" in trace, trace
        assert trace.rstrip().endswith(f"ValueError: refusing i={i} seed={seed}"), trace
        assert f"[stet] work(i={i}, seed={seed}) failed: ValueError: refusing" in ended.out
    assert place.drivers[0].pid not in worker_pids, "the runs failed in the pool's workers"
    assert place.stored() == Counter(runs_of(axes) - failing), "a failed run is not recorded"
    assert place.executions() == Counter(runs_of(axes)), "each run executed once"
    assert "37 ran, 3 failed" in ended.out


def test_max_failures_stops_submitting(place: Place) -> None:
    axes = grid(8)
    failing = [(0, seed) for seed in range(5)] + [(1, seed) for seed in range(5)]  # the first
    ended = place.sweep("pool:spawn", [axes], fail=failing, sleep=0.05, max_failures=3)
    (summary,) = ended.summaries
    assert summary["stopped"] and summary["failed"] >= 3, summary
    assert adds_up(summary) and summary["not_run"] > 0, summary
    assert "[stet] Stopping: 3 runs failed (max_failures=3)" in ended.out
    executed = place.executions()
    assert set(executed.values()) == {1}
    # every run that ran is counted; the runs left out never reached a worker
    assert sum(executed.values()) == summary["ran"] + summary["failed"], summary
    assert sum(executed.values()) == 40 - summary["not_run"] < 40
    failed = {(f["parameters"]["i"], f["parameters"]["seed"]) for f in summary["failures"]}
    assert failed == set(executed) & set(failing), "the failures are the failing runs that ran"
    assert place.stored() == Counter(set(executed) - set(failing))


# -- 3. two sweeps of one grid at once


def test_two_sweeps_of_one_grid_at_once_run_each_run_once(place: Place) -> None:
    """Two scripts, each with its own pool of 2, start the same sweep at the same moment:
    claims share the runs out, and the two summaries together count each run once."""
    axes = grid(8)
    go = place.directory / "go"
    drivers = [
        place.start("pool:spawn", [axes], name=f"sweep{n}", sleep=0.05, go=go) for n in (1, 2)
    ]
    ready = Path(f"{go}.ready")
    wait_for(lambda: ready.exists() and len(ready.read_text().split()) == 2, drivers[0], "ready")
    go.touch()
    ended = [finish(driver) for driver in drivers]
    for one in ended:
        assert one.code == 0, one.output
    first, second = (one.summaries[0] for one in ended)
    for summary in (first, second):
        assert summary["total"] == 40 and adds_up(summary), summary
        assert summary["failed"] == summary["not_run"] == 0, summary
    assert first["ran"] + second["ran"] == 40, (first, second)
    assert place.stored() == Counter(runs_of(axes)), "every run recorded exactly once"
    assert place.executions() == Counter(runs_of(axes)), "every run executed exactly once"


# -- 4. a real Dask cluster


def test_a_dask_cluster_sweep_completes_and_a_rerun_submits_nothing(place: Place) -> None:
    axes = grid(8)
    ended = place.sweep("dask", [axes, axes], sleep=0.02)
    first, rerun = ended.summaries
    assert first["ran"] == 40 and first["done_before"] == 0 and adds_up(first), first
    assert rerun["done_before"] == 40 and rerun["ran"] == 0 and adds_up(rerun), rerun
    assert "[stet] Sweep of work: all 40 runs are done; nothing to run" in ended.out
    assert place.stored() == Counter(runs_of(axes))
    assert place.executions() == Counter(runs_of(axes)), "the rerun executed nothing"
    pids = {pid for _, _, _, pid in place.log_lines()}
    assert place.drivers[0].pid not in pids, "runs ran in the cluster's worker processes"


def test_a_dask_worker_killed_mid_sweep_loses_and_duplicates_nothing(place: Place) -> None:
    """A worker process dies (SIGKILL) inside a run; its nanny starts a new one and Dask
    runs the lost task again: the killed run runs twice and is recorded once."""
    axes, killed = grid(8), (3, 2)
    ended = place.sweep("dask", [axes, axes], sleep=0.02, kill=killed)
    first, rerun = ended.summaries
    assert place.marker.exists(), "the chosen run killed its worker"
    # Dask ran the task again elsewhere (one death is within its allowed failures); runs of
    # a lost task that its first attempt had recorded count as done by other workers
    assert first["failed"] == first["not_run"] == 0 and adds_up(first), first
    assert first["ran"] + first["done_elsewhere"] == 40, first
    assert rerun["ran"] == 0 and rerun["done_before"] == 40, rerun
    assert place.stored() == Counter(runs_of(axes)), "every run recorded exactly once"
    executed = place.executions()
    assert executed[killed] == 2, "the killed run ran again"
    assert executed - Counter({killed: 1}) == Counter(runs_of(axes)), "no other run twice"
    starts = [pid for kind, i, seed, pid in place.log_lines() if (i, seed) == killed]
    (done_by,) = [
        pid for kind, i, s, pid in place.log_lines() if kind == "done" and (i, s) == killed
    ]
    assert starts[0] != done_by, "a new worker process ran it again"


# -- 5. Ctrl-C


def test_ctrl_c_to_the_main_process_lets_the_started_runs_finish(place: Place) -> None:
    axes = grid(8)
    driver = place.start("pool:spawn", [axes], sleep=0.3)
    wait_for(lambda: place.records() >= 3, driver, "3 records")
    driver.process.send_signal(signal.SIGINT)
    ended = finish(driver)
    assert ended.code != 0 and "KeyboardInterrupt" in ended.err, ended.output
    assert "[stet] Interrupted: waiting for " in ended.out, ended.output
    assert "[stet] Interrupted: rerun the sweep to continue where it stopped" in ended.out
    counts = ended.summary_line()
    assert counts["not_run"] > 0 and adds_up(counts), ended.output
    stored = place.stored()
    assert set(stored.values()) == {1} and len(stored) < 40
    # the runs that had started finished and were recorded; none started after Ctrl-C
    assert place.executions() == stored == place.executions("done")
    assert counts["ran"] == len(stored) == counts["done"], ended.output
    assert counts["not_run"] == 40 - len(stored)

    rerun = place.sweep("pool:spawn", [axes], name="rerun")
    (summary,) = rerun.summaries
    assert summary["done_before"] == len(stored) and summary["ran"] == 40 - len(stored)
    assert place.stored() == Counter(runs_of(axes)), "every run recorded exactly once"
    assert place.executions() == Counter(runs_of(axes)), "every run executed exactly once"


def test_ctrl_c_to_the_process_group_leaves_a_consistent_store(place: Place) -> None:
    """A terminal's Ctrl-C reaches the pool's workers too: their running calls stop."""
    axes = grid(8)
    driver = place.start("pool:spawn", [axes], sleep=0.3)
    wait_for(lambda: place.records() >= 3, driver, "3 records")
    os.killpg(driver.pid, signal.SIGINT)
    ended = finish(driver)
    assert ended.code != 0 and "KeyboardInterrupt" in ended.err, ended.output
    stored = place.stored()  # every line whole, valid and stamped
    assert set(stored.values()) == {1} and 3 <= len(stored) < 40, stored
    # a record is made only for a body that returned; a body that returned just as the
    # Ctrl-C reached its worker may go unrecorded (its call never returned): at most one a
    # worker, and it runs again in the rerun
    returned = place.executions("done")
    assert set(stored) <= set(returned) and len(set(returned) - set(stored)) <= 2, returned
    status = place.status(axes)
    assert "running now" not in status, status  # no live claim is left behind
    assert f"{len(stored)}/40 done" in status and ", 0 running" in status, status

    rerun = place.sweep("pool:spawn", [axes], name="rerun")
    (summary,) = rerun.summaries
    assert summary["running_elsewhere"] == 0, "a stopped run's claim was left behind"
    assert summary["done_before"] == len(stored) and summary["ran"] == 40 - len(stored)
    assert place.stored() == Counter(runs_of(axes)), "every run recorded exactly once"
    again = place.executions("done") - returned
    assert again == Counter(runs_of(axes) - set(stored)), "the rerun ran the rest, once each"


def test_a_second_ctrl_c_stops_waiting_for_the_started_runs(place: Place) -> None:
    """The runs wait for a file; the first SIGINT waits for them, the second does not."""
    axes = grid(8)
    driver = place.start("pool:spawn", [axes], hold=True)
    wait_for(lambda: len(place.executions()) == 2, driver, "both workers running a run")
    driver.process.send_signal(signal.SIGINT)
    wait_for(lambda: "[stet] Interrupted: waiting for " in stdout_of(driver), driver, "waiting")
    assert not place.executions("done"), "the runs cannot finish before the file exists"
    driver.process.send_signal(signal.SIGINT)
    wait_for(lambda: bool(summary_lines(stdout_of(driver))), driver, "the summary")
    assert not place.hold.exists() and not place.executions("done")
    counts = parse_summary_line(summary_lines(stdout_of(driver))[0])
    assert counts["ran"] == 0 and counts["not_run"] == 40, counts  # it stopped waiting
    place.hold.touch()  # the runs that started finish in the workers as the script exits
    ended = finish(driver)
    assert ended.code != 0 and "KeyboardInterrupt" in ended.err, ended.output
    stored = place.stored()
    assert set(stored.values()) == {1} and stored == place.executions("done")
    assert set(place.executions()) >= set(stored) and len(stored) >= 2, stored

    rerun = place.sweep("pool:spawn", [axes], name="rerun")
    (summary,) = rerun.summaries
    assert summary["done_before"] == len(stored) and summary["running_elsewhere"] == 0
    assert place.stored() == Counter(runs_of(axes))
    assert place.executions("done") == Counter(runs_of(axes))


# -- 6. a pool whose worker dies


def test_a_broken_pool_stops_the_sweep_and_a_rerun_completes_it(place: Place) -> None:
    axes, killed = grid(8), (3, 1)
    ended = place.sweep("pool:fork", [axes], sleep=0.05, kill=killed)
    (summary,) = ended.summaries
    assert place.marker.exists(), "the chosen run killed its worker"
    assert "[stet] The executor broke (BrokenProcessPool: " in ended.out, ended.output
    assert summary["stopped"] and adds_up(summary), summary
    stored = place.stored()
    assert set(stored.values()) == {1} and killed not in stored
    assert summary["ran"] == len(stored), "ran counts the records this sweep made"
    assert summary["ran"] + summary["failed"] + summary["not_run"] == 40, summary

    rerun = place.sweep("pool:fork", [axes], name="rerun", sleep=0.05, kill=killed)
    (again,) = rerun.summaries
    # the killed run's claim is taken over at once: its holder is gone
    assert again["running_elsewhere"] == 0 and again["failed"] == 0, again
    assert again["done_before"] == len(stored) and again["ran"] == 40 - len(stored), again
    assert place.stored() == Counter(runs_of(axes)), "every run recorded exactly once"
    executed = place.executions()
    twice = {run for run, n in executed.items() if n > 1}
    assert killed in twice and not twice & set(stored), "a recorded run never ran again"
    assert set(executed) == runs_of(axes)
