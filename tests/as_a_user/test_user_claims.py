"""Claims as users meet them: threads and asyncio tasks of one script, leases that are
too long, a worker paused while it holds the store's lock.

Every script here runs in a fresh interpreter (``outside.run_script``); each execution of
a decorated body is counted with one ``O_APPEND`` write to a log, so a run executed twice
shows as two lines, whatever the threads, tasks and processes.

(The file is not ``test_claims.py``: ``tests/test_claims.py`` has that basename, and
pytest cannot collect two test modules of one basename outside packages.)
"""

from __future__ import annotations

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
