"""Claims and leases, with real processes: workers share out a grid, a dead worker's run
is taken over, and no run is executed twice, in every format.

Every worker here is a fresh interpreter running the same script over the same grid, as
N copies of a script, or the tasks of a SLURM array, do. Each execution of the body
writes ``start <i> <pid>`` and ``done <i> <pid>`` lines to one log with single appends,
so the test can count executions across processes.
"""

from __future__ import annotations

import os
import signal
import socket
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from formats import FORMATS
from probes import HOLDERS, Driver, run, wait_until

import stet
from stet._store import Store


@pytest.fixture(params=FORMATS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store of each format: a file path, or a PostgreSQL URL with its own table."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_store"))
    return str(tmp_path / f"runs.{request.param}")


def stored(location: str) -> list[str]:
    """The ``i`` of every record in the store, as stet reads them."""
    snapshot = Store(location, "store").snapshot()
    column = snapshot.header.index("i")
    return [str(row[column]) for row in snapshot.rows]


SWEEP = """
    import os, sys, time
    import stet
    from stet._store import Store

    store, log, go = sys.argv[1], sys.argv[2], sys.argv[3]
    count, long_run, lease = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])

    def note(text):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{text} {os.getpid()}\\n".encode())
        os.close(fd)

    @stet.once(store=store, verbose=False, lease=lease, heartbeat=lease / 6)
    def work(i):
        note(f"start {i}")
        time.sleep(2.0 if i == long_run else 0.002)
        note(f"done {i}")

    while not os.path.exists(go):
        time.sleep(0.005)
    while True:  # passes over the grid until every run is in the store
        for i in range(count):
            work(i)
        if len(Store(store, "store").snapshot().rows) >= count:
            break
        time.sleep(0.05)
"""


class Log:
    """The executions the workers wrote: ``start``/``done`` lines with run and pid."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[tuple[str, int, int]]:
        if not self.path.exists():
            return []
        parsed = []
        text = self.path.read_text()
        for line in text[: text.rfind("\n") + 1].splitlines():  # whole lines: workers write on
            what, i, pid = line.split()
            parsed.append((what, int(i), int(pid)))
        return parsed

    def count(self, what: str) -> Counter[int]:
        return Counter(i for kind, i, _ in self.lines() if kind == what)

    def who(self, what: str, i: int) -> list[int]:
        return [pid for kind, j, pid in self.lines() if kind == what and j == i]


def start_workers(tmp_path: Path, location: str, n: int, count: int, long_run: int, lease: float):
    log, go = tmp_path / "executions.log", tmp_path / "go"
    code = textwrap.dedent(SWEEP)
    args = (location, str(log), str(go), str(count), str(long_run), str(lease))
    workers = [Driver(code, tmp_path, *args) for _ in range(n)]
    go.touch()
    return workers, Log(log)


def finish_all(workers: list[Driver]) -> None:
    for worker in workers:
        code, _, _ = worker.finish()
        assert code in (0, -signal.SIGKILL), worker.output()


def test_four_workers_share_a_grid_and_a_killed_workers_run_is_taken_over(
    tmp_path: Path, location: str
) -> None:
    """The issue's scenario: 4 workers, 2,000 runs, one worker killed with kill -9 mid-run."""
    count, long_run = 2000, 700
    workers, log = start_workers(tmp_path, location, 4, count, long_run, lease=60.0)
    wait_until(lambda: bool(log.who("start", long_run)), workers[0])
    (holder,) = log.who("start", long_run)
    victim = next(w for w in workers if w.pid == holder)
    victim.kill()
    finish_all(workers)
    assert not victim.running()

    done, started = log.count("done"), log.count("start")
    assert sorted(done) == list(range(count)), "a run never completed"
    assert set(done.values()) == {1}, "a run completed twice"
    twice = {i for i, n in started.items() if n > 1}
    assert twice == {long_run}, "only the killed worker's run may start again"
    assert log.who("start", long_run)[0] == holder != log.who("done", long_run)[0]
    assert Counter(stored(location)) == Counter(str(i) for i in range(count))
    busy = Counter(pid for kind, _, pid in log.lines() if kind == "done")
    assert len(busy) >= 3, f"the work was not shared out: {busy}"


def test_a_paused_workers_claim_is_taken_over_when_its_lease_runs_out(
    tmp_path: Path, location: str
) -> None:
    """A worker that stops renewing (SIGSTOP: alive, silent) loses its run after the lease.

    The holder is alive throughout, so the run can only pass to another worker because its
    lease ran out, not because its holder was seen dead.
    """
    count, long_run, lease = 300, 100, 1.5
    workers, log = start_workers(tmp_path, location, 3, count, long_run, lease)
    wait_until(lambda: bool(log.who("start", long_run)), workers[0])
    (holder,) = log.who("start", long_run)
    paused = next(w for w in workers if w.pid == holder)
    os.kill(holder, signal.SIGSTOP)
    try:
        others = [w for w in workers if w is not paused]
        for worker in others:
            code, _, _ = worker.finish()
            assert code == 0, worker.output()
        assert paused.running()  # it held the claim, alive, until the others finished
    finally:
        paused.kill()
        paused.finish()
    assert log.who("done", long_run) and log.who("done", long_run)[0] != holder
    assert log.count("done") == Counter(range(count))
    assert {i for i, n in log.count("start").items() if n > 1} == {long_run}
    assert Counter(stored(location)) == Counter(str(i) for i in range(count))


HOLD = """
    import os, sys, time
    import stet

    store, gate = sys.argv[1], sys.argv[2]

    @stet.once(store=store, lease=1.2, heartbeat=0.15)  # a short lease: the tests outlive it
    def work(i):
        open(gate + ".in", "w").close()
        while not os.path.exists(gate):  # hold the claim until the test opens the gate
            time.sleep(0.01)
        if os.path.exists(gate + ".raise"):
            raise RuntimeError("refused")
        print("ran", i, flush=True)

    try:
        work(1)
    except RuntimeError:
        print("raised", flush=True)
"""

CALL = """
    import sys
    import stet

    @stet.once(store=sys.argv[1], lease=2.0)
    def work(i):
        print("ran", i, flush=True)

    print("returned", work(1))
"""


def hold(tmp_path: Path, location: str) -> tuple[Driver, Path]:
    """A worker inside ``work(1)``, holding its claim until ``gate`` exists."""
    gate = tmp_path / "gate"
    holder = Driver(textwrap.dedent(HOLD), tmp_path, location, str(gate))
    HOLDERS.append(holder)  # killed after the test, if it fails first
    wait_until(lambda: Path(f"{gate}.in").exists(), holder)
    return holder, gate


def call(tmp_path: Path, location: str) -> str:
    return run(textwrap.dedent(CALL), tmp_path, location)


def test_a_run_held_elsewhere_is_skipped_with_its_worker_named(
    tmp_path: Path, location: str
) -> None:
    holder, gate = hold(tmp_path, location)
    where = f"{socket.gethostname()}, pid {holder.pid}"
    out = call(tmp_path, location)
    assert out.splitlines() == [
        f"[stet] Skipping work(i=1): running in another worker ({where})",
        "returned None",
    ]
    time.sleep(0.6)  # the 1.2 s lease would be half gone without the heartbeat's renewals
    assert "ran 1" not in call(tmp_path, location)
    gate.touch()
    assert holder.finish()[1] == "ran 1\n"
    assert call(tmp_path, location).splitlines() == [
        # issue 13: the holder's work has other code than this one's, said before the skip
        "[stet] work's code has changed since its 1 run was recorded; it still counts as done "
        "(work.reset() runs it again)",
        "[stet] Skipping work(i=1)",
        "returned None",
    ]


def test_a_heartbeat_keeps_a_run_longer_than_its_lease(tmp_path: Path, location: str) -> None:
    holder, gate = hold(tmp_path, location)
    deadline = time.monotonic() + 3.0  # two and a half leases
    while time.monotonic() < deadline:
        assert "running in another worker" in call(tmp_path, location)
    gate.touch()
    assert holder.finish()[0] == 0
    assert stored(location) == ["1"]


def test_a_call_that_raises_releases_its_claim(tmp_path: Path, location: str) -> None:
    gate = tmp_path / "gate"
    Path(f"{gate}.raise").touch()
    holder, gate = hold(tmp_path, location)
    gate.touch()
    assert holder.finish()[1] == "raised\n"
    assert call(tmp_path, location).splitlines() == ["ran 1", "returned None"]
    assert stored(location) == ["1"]


STATUS = """
    import sys
    import stet

    stet.status(sys.argv[1])
"""


def test_status_counts_running_claims_with_host_and_pid(tmp_path: Path, location: str) -> None:
    holder, gate = hold(tmp_path, location)
    out = run(textwrap.dedent(STATUS), tmp_path, location)
    assert f"[stet] 1 running now: {socket.gethostname()} (pid {holder.pid})" in out
    assert "[stet] 0 completed experiments recorded" in out
    gate.touch()
    holder.finish()
    out = run(textwrap.dedent(STATUS), tmp_path, location)
    assert "running now" not in out and "[stet] 1 completed experiment recorded" in out


def test_claims_off_lets_two_workers_run_the_same_call(tmp_path: Path) -> None:
    store = tmp_path / "runs.csv"
    holder, gate = hold(tmp_path, str(store))
    off = CALL.replace("lease=2.0", "claims=False")
    assert "ran 1" in run(textwrap.dedent(off), tmp_path, str(store))
    gate.touch()
    assert holder.finish()[1] == "ran 1\n"
    assert stored(str(store)) == ["1"]  # the store keeps one record all the same


def test_the_claims_directory_is_removed_when_the_last_claim_is(tmp_path: Path) -> None:
    store = tmp_path / "runs.csv"
    holder, gate = hold(tmp_path, str(store))
    claims = tmp_path / "runs.csv.claims"
    assert sorted(p.suffix or p.name for p in claims.iterdir()) == [".worker", "journal"]
    gate.touch()
    holder.finish()
    assert not claims.exists()


THREADS = """
    import sys, threading, time
    import stet

    runs = []

    @stet.once(store=sys.argv[1], verbose=False)
    def work(i):
        runs.append(i)
        time.sleep(0.001)

    def sweep():
        for i in range(300):
            work(i)

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(len(runs), len(set(runs)))
"""


def test_threads_of_one_process_never_run_the_same_call_twice(tmp_path: Path) -> None:
    store = tmp_path / "runs.csv"
    assert run(textwrap.dedent(THREADS), tmp_path, str(store)).split() == ["300", "300"]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"lease": 0}, "lease must be a number of seconds > 0"),
        ({"lease": "60"}, "lease must be a number of seconds > 0"),
        ({"lease": 10, "heartbeat": 6}, "at most half the lease"),
        ({"heartbeat": -1}, "heartbeat must be a number of seconds > 0"),
        ({"lease": float("inf")}, r"at most \d+ .*, not inf; .* claims=False"),
        ({"lease": 1e11}, "lease must be a number of seconds > 0 and at most"),
        ({"lease": float("nan")}, "lease must be a number of seconds > 0 and at most"),
        ({"lease": True}, "lease must be a number of seconds > 0 and at most"),
        ({"lease": None}, "lease must be a number of seconds > 0 and at most"),
    ],
)
def test_bad_lease_options_are_refused_clearly(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        stet.once(**options)


POOL = """
    import sys
    from concurrent.futures import ProcessPoolExecutor
    import stet

    @stet.once(store=sys.argv[1], skip_lines=0)
    def work(i):
        return i

    if __name__ == "__main__":
        with ProcessPoolExecutor(2) as pool:
            print(sum(1 for r in pool.map(work, range(40)) if r is None), flush=True)
"""


def test_pool_workers_tidy_up_and_end_their_streaks(tmp_path: Path) -> None:
    """A pool's worker leaves with os._exit, skipping atexit; stet finishes its work there too."""
    store = tmp_path / "runs.csv"
    (tmp_path / "pool_sweep.py").write_text(textwrap.dedent(POOL))
    code = "import runpy, sys; runpy.run_path('pool_sweep.py', run_name='__main__')"
    assert run(code, tmp_path, str(store)).splitlines() == ["0"]
    assert not (tmp_path / "runs.csv.claims").exists()
    again = run(code, tmp_path, str(store)).splitlines()
    assert "40" in again  # every call skipped (the workers' summaries may come after)
    condensed = [line for line in again if line.startswith("[stet] Skipped ")]
    assert sum(int(line.split()[2]) for line in condensed) == 40  # every worker's summary
    assert not (tmp_path / "runs.csv.claims").exists()


# A stand-in for a PostgreSQL worker stopped (SIGSTOP, a suspended job) in the moment it
# holds the store's lock: the session advisory lock stet takes, held by a stopped client.
PG_STOPPED_HOLDER = """
    import os, signal, sys
    import psycopg
    from stet.formats.pgsite import lock_key

    with psycopg.connect(sys.argv[1], autocommit=True) as con:
        con.execute("SELECT pg_advisory_lock(%s)", (lock_key(sys.argv[2]),))
        os.kill(os.getpid(), signal.SIGSTOP)  # the test sends SIGCONT
"""

PG_WAITER = """
    import sys
    import stet

    @stet.once(store=sys.argv[1])
    def simulate(i):
        print("ran", i, flush=True)

    simulate(1)
"""


def test_a_postgres_worker_stopped_in_the_store_lock_is_waited_for_and_said(
    tmp_path: Path, postgres_url: str
) -> None:
    import subprocess
    import sys
    import threading

    from stet.formats import redacted as display_name

    table = f"t_{os.urandom(6).hex()}"
    store = f"{postgres_url}?table={table}"
    (tmp_path / "holder.py").write_text(textwrap.dedent(PG_STOPPED_HOLDER))
    (tmp_path / "waiter.py").write_text(textwrap.dedent(PG_WAITER))
    holder = subprocess.Popen([sys.executable, "holder.py", postgres_url, table], cwd=tmp_path)
    unstick = threading.Timer(120, holder.send_signal, (signal.SIGCONT,))  # never hang
    unstick.start()
    waiter = None
    try:
        _, status = os.waitpid(holder.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status)
        waiter = subprocess.Popen(
            [sys.executable, "-u", "waiter.py", store],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiter.stdout is not None
        assert waiter.stdout.readline() == "ran 1\n"  # a claim is a row: no lock to wait for
        said = waiter.stdout.readline()  # its record waits for the lock
        assert said == (
            f"[stet] Waiting for the lock {display_name(store)} for over 10 s: another "
            "worker holds it (on another machine, or one stet cannot see). stet waits until "
            "it lets go or exits, and never takes the lock from a live process\n"
        )
        assert waiter.poll() is None
        holder.send_signal(signal.SIGCONT)
        out, err = waiter.communicate(timeout=120)
    finally:
        unstick.cancel()
        holder.send_signal(signal.SIGCONT)
        holder.kill()
        holder.wait()
        if waiter is not None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 0, err
    assert out == ""
    assert stored(store) == ["1"]
