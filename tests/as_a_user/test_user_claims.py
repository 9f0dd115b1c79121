"""Claims as users meet them: threads and asyncio tasks of one script, leases that are
too long, a worker paused while it holds the store's lock.

Every script here runs in a fresh interpreter (``outside.run_script``); each execution of
a decorated body is counted with one ``O_APPEND`` write to a log, so a run executed twice
shows as two lines, whatever the threads, tasks and processes.

(The file is not ``test_claims.py``: ``tests/test_claims.py`` has that basename, and
pytest cannot collect two test modules of one basename outside packages.)
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import outside

THREADS_AND_TASKS = """
    import asyncio, os, sys, threading, time
    import stet

    store = sys.argv[1]
    log = os.open("executions.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    @stet.once(store=store, verbose=False)
    def simulate(n):
        os.write(log, f"thread {n}\\n".encode())
        time.sleep(0.005)  # long enough for the other threads to reach the same run

    def sweep():
        for n in range(60):
            simulate(n)

    threads = [threading.Thread(target=sweep) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    @stet.once(store=store, verbose=False)
    async def fetch(n):
        os.write(log, f"task {n}\\n".encode())
        await asyncio.sleep(0.005)  # the other tasks of the same run start meanwhile

    async def main():
        await asyncio.gather(*(fetch(i % 20) for i in range(80)))

    asyncio.run(main())
    print("done")
"""


def test_threads_and_tasks_of_one_script_execute_each_run_once(
    location: str, tmp_path: Path
) -> None:
    done = outside.run_script(THREADS_AND_TASKS, tmp_path, location)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    executions = Counter((tmp_path / "executions.log").read_text().splitlines())
    expected = {f"thread {n}" for n in range(60)} | {f"task {n}" for n in range(20)}
    assert set(executions) == expected
    twice = {run: count for run, count in executions.items() if count != 1}
    assert twice == {}, f"runs executed more than once: {twice}"
    shown = outside.run_cli(["status", location], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "80 completed experiments recorded" in shown.stdout


TOO_LONG = """
    import stet

    for lease in [float("inf"), 1e11, float("nan"), 0, -5, "60", True, None]:
        try:
            @stet.once(store="runs.csv", lease=lease)
            def simulate(n):
                print("ran", n)
        except ValueError as error:
            print(error)
        else:
            simulate(1)
"""


def test_a_lease_too_long_or_not_a_number_is_refused_at_decoration(tmp_path: Path) -> None:
    done = outside.run_script(TOO_LONG, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    shown = ["inf", "100000000000.0", "nan", "0", "-5", "'60'", "True", "None"]
    assert len(lines) == len(shown), done.stdout
    for line, value in zip(lines, shown, strict=True):
        assert line.startswith("@stet.once: lease must be a number of seconds > 0 and at most ")
        assert f"(the longest wait this platform allows), not {value};" in line
        assert line.endswith("for no claims at all, use claims=False")
    assert not (tmp_path / "runs.csv").exists()  # no body ran, nothing was written


# Two stores, a run of each held by a thread. The claims directory of the first is made
# unreadable (the child runs without root's permission override): renewing there fails,
# and must be said once, while the claim on the second store is still renewed.
TWO_STORES = """
    import os, sys, threading
    import stet

    release = threading.Event()
    started = [threading.Event(), threading.Event()]  # each body runs: its claim is whole

    @stet.once(store="a/runs.csv", lease=3, heartbeat=0.2)
    def hold_a(n):
        sys.stdout.write("holding a\\n")  # one write: the two threads' lines never mix
        sys.stdout.flush()
        started[0].set()
        release.wait()

    @stet.once(store="b/runs.csv", lease=3, heartbeat=0.2)
    def hold_b(n):
        sys.stdout.write("holding b\\n")  # one write: the two threads' lines never mix
        sys.stdout.flush()
        started[1].set()
        release.wait()

    os.makedirs("a"), os.makedirs("b")
    threads = [threading.Thread(target=hold, args=(1,)) for hold in (hold_a, hold_b)]
    for thread in threads:
        thread.start()
    for event in started:  # both runs are claimed and their bodies run
        event.wait()
    os.chmod("a/runs.csv.claims", 0)
    sys.stdout.write("ready\\n")  # one write, as the threads' lines
    sys.stdout.flush()
    sys.stdin.readline()  # the test tries the run of b meanwhile
    os.chmod("a/runs.csv.claims", 0o755)
    release.set()
    for thread in threads:
        thread.join()
"""

TRY_B = """
    import stet

    @stet.once(store="b/runs.csv", lease=3)
    def hold_b(n):
        print("ran b", n)

    hold_b(1)
"""


def test_the_heartbeat_renews_other_stores_when_one_fails(tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap
    import threading
    import time

    (tmp_path / "holder.py").write_text(textwrap.dedent(TWO_STORES))
    holder = subprocess.Popen(
        [*outside.UNPRIVILEGED, sys.executable, "holder.py"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=outside._environment(None),
    )
    stuck = threading.Timer(120, holder.kill)  # a holder that never says ready fails the test
    stuck.start()
    try:
        assert holder.stdout is not None and holder.stdin is not None
        seen = [holder.stdout.readline() for _ in range(3)]
        assert sorted(seen) == ["holding a\n", "holding b\n", "ready\n"]
        time.sleep(9)  # three leases: a claim not renewed meanwhile has lapsed
        tried = outside.run_script(TRY_B, tmp_path, name="try_b.py")
        assert tried.returncode == 0, tried.stderr
        assert "ran b" not in tried.stdout
        [skip] = outside.stet_lines(tried.stdout)
        assert skip.startswith("[stet] Skipping hold_b(n=1): running in another worker (")
        out, err = holder.communicate("go\n", timeout=60)
    finally:
        stuck.cancel()
        holder.kill()
        holder.wait()
    assert holder.returncode == 0, err
    [trouble] = outside.stet_lines(out)  # once, though it failed at every beat
    assert trouble.startswith("[stet] Could not renew this process's claims on a/runs.csv")
    assert "PermissionError" in trouble
    assert "stet keeps trying, and renews the claims on other stores meanwhile" in trouble
    assert "(3 s)" in trouble


# stet's lock on a file store is ``flock`` on ``<store>.lock``: this stands in for a worker
# stopped (SIGSTOP, a suspended job, a laptop asleep) in the microseconds it holds it.
STOPPED_HOLDER = """
    import fcntl, os, signal

    fd = os.open("runs.csv.lock", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.kill(os.getpid(), signal.SIGSTOP)  # the test sends SIGCONT
    fcntl.flock(fd, fcntl.LOCK_UN)
"""

WAITER = """
    import stet

    @stet.once(store="runs.csv")
    def simulate(n):
        print("ran", n, flush=True)

    simulate(1)
"""


def test_a_worker_stopped_in_the_store_lock_is_named_and_waited_for(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import textwrap
    import threading

    (tmp_path / "holder.py").write_text(textwrap.dedent(STOPPED_HOLDER))
    (tmp_path / "waiter.py").write_text(textwrap.dedent(WAITER))
    holder = subprocess.Popen([sys.executable, "holder.py"], cwd=tmp_path)
    waiter = None
    # Should the waiter never say it waits, the holder goes on after 2 minutes, so that
    # the test fails on what the waiter printed instead of hanging.
    unstick = threading.Timer(120, holder.send_signal, (signal.SIGCONT,))
    unstick.start()
    try:
        _, status = os.waitpid(holder.pid, os.WUNTRACED)  # it holds the lock, stopped
        assert os.WIFSTOPPED(status)
        waiter = subprocess.Popen(
            [sys.executable, "waiter.py"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=outside._environment(None),
        )
        assert waiter.stdout is not None
        said = waiter.stdout.readline()  # printed while it waits, the body not yet run
        assert said == (
            f"[stet] Waiting for the lock {tmp_path / 'runs.csv.lock'} for over 10 s: "
            f"process {holder.pid} of this machine holds it and is stopped (SIGSTOP, a "
            f"suspended job; kill -CONT {holder.pid} lets it go on). stet waits until it "
            "lets go or exits, and never takes the lock from a live process\n"
        )
        assert waiter.poll() is None  # still waiting: the lock was not taken from it
        assert not (tmp_path / "runs.csv").exists()
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
    assert out == "ran 1\n"
    done = outside.run_cli(["status", "runs.csv"], tmp_path)
    assert "1 completed experiment recorded" in done.stdout
