"""Run outputs with many workers: processes sharing one outputs directory, threads and
asyncio tasks of one process, a fork-based process pool and a real Dask
``LocalCluster`` through ``stet.sweep``.

Each body appends its pid to a file in its own output directory and checks that it is
the only line there, so two workers writing one directory fail the run; the tests then
check every directory against its record and ``_stet_run.json``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from probes import Driver, environment, wait_until
from test_outputs_crash import DRIVER, check, executions, output_path, records

import stet

WORKERS, GRID = 4, 60


@pytest.mark.parametrize("fmt", ["csv", "sqlite", "postgresql"])
def test_four_processes_over_one_grid_run_each_run_once_in_a_directory_of_its_own(
    tmp_path: Path, request: pytest.FixtureRequest, fmt: str
) -> None:
    store = (
        str(request.getfixturevalue("postgres_store"))
        if fmt == "postgresql"
        else str(tmp_path / f"runs.{fmt}")
    )
    data, log, go = tmp_path / "data", tmp_path / "log", tmp_path / "go"
    args = ("workers_sweep", store, str(data), str(log), str(GRID), str(go))
    drivers = [Driver(DRIVER, tmp_path, *args) for _ in range(WORKERS)]
    ready = Path(f"{go}.ready")
    wait_until(lambda: ready.exists() and len(ready.read_text().split()) == WORKERS)
    go.touch()
    for driver in drivers:
        code, _, err = driver.finish()
        assert code == 0, err
    found = check(store, data, settled=True)  # each recorded once, each directory whole
    assert set(found) == set(range(GRID))
    done = executions(log)
    assert Counter(i for _, what, i in done if what == "start") == Counter(range(GRID))
    by_run = {i: pid for pid, what, i in done if what == "done"}
    assert found == by_run  # the directory's writer is the worker that ran it
    assert len(set(found.values())) > 1, "one worker ran every run: no overlap was tested"
    assert not (data / ".stet-interrupted").exists() and not (data / ".stet-duplicate").exists()


def test_threads_of_one_process_each_get_their_own_output_dir(tmp_path: Path) -> None:
    store, data = tmp_path / "runs.csv", tmp_path / "data"
    seen: dict[int, Path] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    @stet.once(store=store, outputs=data, verbose=False, name="run")
    def run(i: int) -> None:
        mine = stet.output_dir()
        barrier.wait(10)  # every body is inside at once
        (mine / "i.txt").write_text(str(i))
        barrier.wait(10)
        assert stet.output_dir() == mine
        seen[i] = mine
        inherited: list[BaseException] = []
        helper = threading.Thread(target=lambda: inherited.append(_raises(stet.output_dir)))
        helper.start()
        helper.join()
        assert isinstance(inherited[0], RuntimeError)  # a thread the body starts: none

    def call(i: int) -> None:
        try:
            run(i)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert len(set(seen.values())) == 8
    for i in range(8):
        assert (data / "run" / f"i={i}" / "i.txt").read_text() == str(i)
    with pytest.raises(RuntimeError, match="outside the body"):
        stet.output_dir()


def _raises(function: Any) -> BaseException | None:
    try:
        function()
    except BaseException as error:
        return error
    return None


def test_asyncio_tasks_each_get_their_own_output_dir(tmp_path: Path) -> None:
    store, data = tmp_path / "runs.csv", tmp_path / "data"

    @stet.once(store=store, outputs=data, verbose=False, results=True, name="fetch")
    async def fetch(i: int) -> str:
        mine = stet.output_dir()
        for step in range(5):
            await asyncio.sleep(0.001 * ((i + step) % 3))  # the tasks interleave
            assert stet.output_dir() == mine
            with open(mine / "steps.txt", "a") as out:
                out.write(f"{step}\n")
        return str(mine)

    async def main() -> list[str]:
        return await asyncio.gather(*(fetch(i) for i in range(10)))

    staged = asyncio.run(main())
    assert len(set(staged)) == 10
    assert all("/.stet-staging/" in path for path in staged)
    for i in range(10):
        assert (data / "fetch" / f"i={i}" / "steps.txt").read_text() == "0\n1\n2\n3\n4\n"
    assert asyncio.run(main()) == staged  # all skipped now: their stored results


SWEEP_SCRIPT = """
    import dataclasses, json, multiprocessing, os, signal, sys
    from concurrent.futures import ProcessPoolExecutor

    import stet

    with open(sys.argv[1]) as handle:
        CONFIG = json.load(handle)


    @stet.once(store=CONFIG["store"], outputs=CONFIG["data"], verbose=False, failures="record")
    def work(i, seed):
        directory = stet.output_dir()
        writers = directory / "writers.log"
        with open(writers, "a") as out:
            out.write(f"{os.getpid()}\\n")
        (directory / "values.json").write_text(json.dumps([i, seed]))
        if [i, seed] == CONFIG["kill"] and not os.path.exists(CONFIG["marker"]):
            open(CONFIG["marker"], "x").close()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies inside the run
        assert writers.read_text().split() == [str(os.getpid())], "shared directory"
        fd = os.open(CONFIG["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{i} {seed} {os.getpid()}\\n".encode())
        os.close(fd)
        if [i, seed] in CONFIG["fail"]:
            raise ValueError(f"run {i} {seed} fails on purpose")


    def main():
        client = cluster = None
        if CONFIG["executor"] == "dask":
            from distributed import Client, LocalCluster

            cluster = LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
            executor = client.get_executor()
        else:
            executor = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
        try:
            summary = stet.sweep(work, CONFIG["grid"], executor=executor, progress=False)
            print("SUMMARY " + json.dumps(dataclasses.asdict(summary), default=str))
            print(f"MAIN {os.getpid()}")
        finally:
            executor.shutdown(wait=True)
            if client is not None:
                client.close()
                cluster.close()


    if __name__ == "__main__":
        main()
"""


def sweep_on(
    executor: str, tmp_path: Path, fail: list[list[int]], kill: list[int] | None = None
) -> dict[str, Any]:
    (tmp_path / "sweep_script.py").write_text(textwrap.dedent(SWEEP_SCRIPT))
    config = {
        "store": str(tmp_path / "runs.csv"),
        "data": str(tmp_path / "data"),
        "log": str(tmp_path / "log"),
        "grid": {"i": list(range(6)), "seed": [0, 1]},
        "fail": fail,
        "executor": executor,
        "kill": kill,
        "marker": str(tmp_path / "killed"),
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "sweep_script.py", "config.json"],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("SUMMARY ")]
    summary: dict[str, Any] = json.loads(line.removeprefix("SUMMARY "))
    (main,) = [line for line in result.stdout.splitlines() if line.startswith("MAIN ")]
    summary["main_pid"] = int(main.split()[1])
    return summary


@pytest.mark.parametrize("executor", ["fork-pool", "dask"])
def test_a_sweep_on_an_executor_puts_each_run_s_directory_in_place(
    tmp_path: Path, executor: str
) -> None:
    fail = [[3, 1]]
    summary = sweep_on(executor, tmp_path, fail)
    store, data = str(tmp_path / "runs.csv"), tmp_path / "data"
    assert summary["failed"] == 1, summary
    assert summary["ran"] + summary["done_elsewhere"] == 11, summary  # (a task Dask ran twice)
    rows = records(store)
    completed = [r for r in rows if not r.get("_stet_error")]
    failed = [r for r in rows if r.get("_stet_error")]
    assert sorted((int(r["i"]), int(r["seed"])) for r in completed) == sorted(
        (i, s) for i in range(6) for s in (0, 1) if [i, s] != [3, 1]
    )
    pids = {}
    for line in (tmp_path / "log").read_text().splitlines():
        i, seed, pid = map(int, line.split())
        pids[i, seed] = pid
    assert summary["main_pid"] not in pids.values()  # every run ran in a worker process
    for row in completed:
        directory = output_path(store, row["_stet_output"])
        assert directory == data / "work" / f"i={row['i']},seed={row['seed']}"
        run = json.loads((directory / "_stet_run.json").read_text())
        key = (int(row["i"]), int(row["seed"]))
        assert run["pid"] == pids[key] and run["parameters"] == {"i": key[0], "seed": key[1]}
        assert (directory / "writers.log").read_text().split() == [str(pids[key])]
        assert json.loads((directory / "values.json").read_text()) == list(key)
    assert sorted(p.name for p in (data / "work").iterdir()) == sorted(
        f"i={r['i']},seed={r['seed']}" for r in completed
    )
    # the failed run: nothing in place; its directory kept aside, named in its record
    (failure,) = failed
    assert "ValueError: run 3 1 fails on purpose" in failure["_stet_error"]
    aside = output_path(store, failure["_stet_output"])
    assert aside.parts[-4:-2] == (".stet-failed", aside.parts[-3]) and aside.is_dir()
    assert aside.parent.name == "work" and aside.name == "i=3,seed=1"
    assert aside.parent.parent.parent == data / ".stet-failed"
    assert json.loads((aside / "values.json").read_text()) == [3, 1]
    assert not (data / "work" / "i=3,seed=1").exists()
    assert not list((data / ".stet-staging" / "work").iterdir())


def test_a_failure_without_failures_record_leaves_nothing(tmp_path: Path) -> None:
    store, data = tmp_path / "runs.csv", tmp_path / "data"

    @stet.once(store=store, outputs=data, verbose=False, name="fragile")
    def fragile(i: int) -> None:
        (stet.output_dir() / "half.txt").write_text("half")
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        fragile(1)
    assert not (data / "fragile" / "i=1").exists()
    assert not list((data / ".stet-staging" / "fragile").iterdir())
    assert not (data / ".stet-failed").exists()
    assert not store.exists() or not stet.records(store)


def test_the_failed_directory_is_named_in_the_failure_record(tmp_path: Path) -> None:
    store, data = tmp_path / "runs.csv", tmp_path / "data"
    tries: list[int] = []

    @stet.once(store=store, outputs=data, verbose=False, failures="record", name="fragile")
    def fragile(i: int) -> None:
        tries.append(i)
        (stet.output_dir() / "attempt.txt").write_text(str(len(tries)))
        if len(tries) == 1:
            raise ValueError("first attempt fails")

    with pytest.raises(ValueError):
        fragile(1)
    (failure,) = [r for r in records(str(store)) if r.get("_stet_error")]
    aside = output_path(str(store), failure["_stet_output"])
    assert (aside / "attempt.txt").read_text() == "1"
    assert data / ".stet-failed" in aside.parents
    fragile(1)  # a failure recorded is tried again: this time it completes
    (done,) = [r for r in records(str(store)) if not r.get("_stet_error")]
    assert (output_path(str(store), done["_stet_output"]) / "attempt.txt").read_text() == "2"
    assert (aside / "attempt.txt").read_text() == "1"  # the failed attempt is still kept
    assert check_names_only(data) == {"fragile": ["i=1"]}


def check_names_only(data: Path) -> dict[str, list[str]]:
    return {
        p.name: sorted(q.name for q in p.iterdir())
        for p in data.iterdir()
        if not p.name.startswith(".")
    }


def test_outputs_without_claims_is_refused(tmp_path: Path) -> None:
    with pytest.raises((TypeError, ValueError), match="claims"):

        @stet.once(store=tmp_path / "runs.csv", outputs=tmp_path / "data", claims=False)
        def f(i: int) -> None:
            pass


def test_a_run_inside_a_run_has_its_own_directory_and_gives_the_outer_one_back(
    tmp_path: Path,
) -> None:
    store, data = tmp_path / "runs.csv", tmp_path / "data"

    @stet.once(store=store, outputs=data, verbose=False, name="inner")
    def inner(j: int) -> None:
        (stet.output_dir() / "inner.txt").write_text(str(j))

    @stet.once(store=store, outputs=data, verbose=False, name="outer")
    def outer(i: int) -> None:
        mine = stet.output_dir()
        (mine / "before.txt").write_text(str(i))
        inner(10 * i)
        assert stet.output_dir() == mine  # given back once the inner run returns
        (mine / "after.txt").write_text(str(i))

    outer(1)
    assert sorted(p.name for p in (data / "outer" / "i=1").iterdir()) == [
        "_stet_run.json",
        "after.txt",
        "before.txt",
    ]
    assert (data / "inner" / "j=10" / "inner.txt").read_text() == "10"
    assert {r.get("_stet_function") for r in records(str(store))} == {"inner", "outer"}


def test_a_dask_worker_killed_inside_a_run_leaves_its_directory_aside(tmp_path: Path) -> None:
    """A worker process dies (SIGKILL) in a run's body, its files half written; Dask runs
    the task again on a new worker: the run is recorded once, with the new worker's whole
    directory, and what the dead one wrote is set aside, not deleted nor read."""
    summary = sweep_on("dask", tmp_path, [], kill=[4, 0])
    assert (tmp_path / "killed").exists(), "the chosen run killed its worker"
    assert summary["failed"] == 0 and summary["ran"] + summary["done_elsewhere"] == 12, summary
    store, data = str(tmp_path / "runs.csv"), tmp_path / "data"
    rows = records(store)
    assert sorted((int(r["i"]), int(r["seed"])) for r in rows) == sorted(
        (i, s) for i in range(6) for s in (0, 1)
    )
    (row,) = [r for r in rows if (r["i"], r["seed"]) == ("4", "0")]
    directory = output_path(store, row["_stet_output"])
    writer = json.loads((directory / "_stet_run.json").read_text())["pid"]
    assert (directory / "writers.log").read_text().split() == [str(writer)]
    (aside,) = (data / ".stet-interrupted").glob("*/work/i=4,seed=0*")
    dead = (aside / "writers.log").read_text().split()
    assert dead != [str(writer)] and len(dead) == 1  # the dead worker's own, kept
    assert not (aside / "_stet_run.json").exists()
    assert not list((data / ".stet-staging" / "work").iterdir())


def test_a_pool_worker_killed_inside_a_run_is_set_aside_by_the_next_sweep(tmp_path: Path) -> None:
    """A fork pool's worker dies (SIGKILL) in a run's body: the pool breaks and the sweep
    stops; the next sweep runs what is left, and the dead worker's directory is set aside."""
    first = sweep_on("fork-pool", tmp_path, [], kill=[4, 0])
    assert (tmp_path / "killed").exists() and first["ran"] < 12, first
    second = sweep_on("fork-pool", tmp_path, [])
    # (a run the other worker finished as the pool broke may count in neither "ran")
    assert second["done_before"] + second["ran"] == 12, (first, second)
    assert second["failed"] == 0 and second["ran"] >= 1, (first, second)
    store, data = str(tmp_path / "runs.csv"), tmp_path / "data"
    rows = records(store)
    assert len(rows) == 12
    for row in rows:
        directory = output_path(store, row["_stet_output"])
        writer = json.loads((directory / "_stet_run.json").read_text())["pid"]
        assert (directory / "writers.log").read_text().split() == [str(writer)]
    (aside,) = (data / ".stet-interrupted").glob("*/work/i=4,seed=0*")
    assert not (aside / "_stet_run.json").exists()
    assert json.loads((aside / "values.json").read_text()) == [4, 0]
    assert not list((data / ".stet-staging" / "work").iterdir())
