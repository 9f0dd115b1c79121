"""Run outputs survive ``kill -9`` at every step of their commit.

A sweep with ``outputs=`` runs in a fresh interpreter that stops for good at one step of
one run (``probes/outputs.py`` wraps stet's own code in that process only: the real step
runs, then the process waits) and the test kills it with a real SIGKILL. Then the same
sweep runs again in a new process, and the invariant holds:

* every completed record's ``_stet_output`` names an existing directory in place, with
  ``_stet_run.json`` and every file the body wrote, whole, written by one process;
* no directory under ``data/<function>/`` lacks a record, and nothing is left in
  staging (nothing there is ever read as a result);
* what the killed run left is under ``data/.stet-interrupted/``, not deleted.

Over every file format, with fsync on CSV, and PostgreSQL for the main steps; also at
random instants of a long sweep (stress), and with a worker stalled (SIGSTOP) past its
lease while another runs its run again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from formats import FILE_FORMATS
from probes import Driver, run, wait_until
from probes.outputs import NAME, PART_SIZE, PARTS, STEPS, payload

from stet._registry import get_store

DRIVER = "import sys; from probes import outputs; outputs.main(sys.argv[1:])"
GRID, AT = 5, 2  # the killed process records runs 0 and 1, and stops in run 2
MAIN_STEPS = ("body", "before-rename", "after-rename", "after-record")


def store_of(fmt: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if fmt == "postgresql":
        return str(request.getfixturevalue("postgres_store"))
    return str(tmp_path / f"runs.{fmt}")


def run_dir(i: int) -> str:
    return f"i={i},tag=t"


def records(store: str) -> list[dict[str, str]]:
    """Every record of the store, read afresh: its columns as text, stet's own included."""
    try:
        snapshot = get_store(store).snapshot()
    except FileNotFoundError:  # killed before its first record
        return []
    return [
        {c: str(cell) for c, cell in zip(snapshot.header, row, strict=True)}
        for row in snapshot.rows
    ]


def output_path(store: str, cell: str) -> Path:
    if os.path.isabs(cell):
        return Path(cell)
    return Path(os.path.normpath(os.path.join(os.path.dirname(store), cell)))


def executions(log: Path) -> list[tuple[int, str, int]]:
    if not log.exists():
        return []
    return [(int(p), what, int(i)) for p, what, i in map(str.split, log.read_text().splitlines())]


def check_complete(directory: Path, i: int) -> int:
    """A run's directory holds its whole files and ``_stet_run.json``; the pid that wrote it."""
    facts = json.loads((directory / "_stet_run.json").read_text(encoding="utf-8"))
    assert facts["function"] == NAME and facts["parameters"] == {"i": i, "tag": "t"}, facts
    for part in range(PARTS):
        assert (directory / f"part{part}.bin").read_bytes() == payload(i, part), (directory, part)
    writers = (directory / "writers.log").read_text().split()
    assert writers == [str(facts["pid"])], (directory, writers, facts)  # one writer, once
    names = {p.name for p in directory.iterdir()}
    assert names == {"_stet_run.json", "writers.log", *(f"part{k}.bin" for k in range(PARTS))}
    return int(facts["pid"])


def check(store: str, data: Path, *, settled: bool) -> dict[int, int]:
    """The invariant; {run: pid that wrote its directory} of the completed runs.

    ``settled`` (after a start that ran every run again): also no directory in place
    without a record, and nothing in staging.
    """
    rows = [r for r in records(store) if not r.get("_stet_error")]
    found: dict[int, int] = {}
    in_place = data / NAME
    for row in rows:
        i = int(row["i"])
        assert i not in found, f"run {i} recorded twice"
        directory = output_path(store, row["_stet_output"])
        assert directory == in_place / run_dir(i), (row, directory)
        assert directory.is_dir(), f"the record of run {i} names {directory}, which is gone"
        found[i] = check_complete(directory, i)
    if settled:
        there = {p.name for p in in_place.iterdir()} if in_place.exists() else set()
        assert there == {run_dir(i) for i in found}, (there, sorted(found))
        staging = data / ".stet-staging" / NAME
        assert not staging.exists() or not list(staging.iterdir()), list(staging.iterdir())
    return found


def interrupted(data: Path, i: int) -> list[Path]:
    """The directories of run ``i`` set aside as interrupted."""
    return sorted((data / ".stet-interrupted").glob(f"*/{NAME}/{run_dir(i)}*"))


def kill_at(step: str, store: str, tmp_path: Path, at: int = AT, fsync: bool = False) -> int:
    """Start the sweep, let it stop at ``step`` of run ``at``, SIGKILL it; its pid."""
    ready = tmp_path / "ready"
    ready.unlink(missing_ok=True)
    args = (store, str(tmp_path / "data"), str(tmp_path / "log"), step, str(ready))
    more = (str(GRID), str(at), "60", str(int(fsync)))
    driver = Driver(DRIVER, tmp_path, "hang", *args, *more)
    wait_until(ready.exists, driver)
    driver.kill()
    code, _, err = driver.finish()
    assert code == -signal.SIGKILL, err
    return driver.pid


def sweep_again(store: str, tmp_path: Path, first: int = 0) -> None:
    data, log = str(tmp_path / "data"), str(tmp_path / "log")
    run(DRIVER, tmp_path, "sweep", store, data, log, str(GRID), str(first))


def check_step(step: str, store: str, tmp_path: Path, fsync: bool = False) -> None:
    data, log = tmp_path / "data", tmp_path / "log"
    killed = kill_at(step, store, tmp_path, fsync=fsync)
    recorded = step in ("after-record", "after-release")
    before = check(store, data, settled=False)
    assert set(before) == ({0, 1, AT} if recorded else {0, 1})
    in_place = data / NAME / run_dir(AT)
    assert in_place.exists() == (step in ("after-rename", "after-record", "after-release"))
    staged = list((data / ".stet-staging" / NAME).iterdir())
    assert len(staged) == (1 if step in ("begun", "body", "before-rename") else 0), staged

    ran_before = len(executions(log))
    sweep_again(store, tmp_path)
    after = check(store, data, settled=True)
    assert set(after) == set(range(GRID))
    ran = Counter(i for _, what, i in executions(log)[ran_before:] if what == "start")
    assert ran == Counter(range(AT + 1 if recorded else AT, GRID))  # each once; none done
    assert all(pid != killed for i, pid in after.items() if i >= AT and not recorded)

    aside = interrupted(data, AT)
    if recorded:  # the run completed: nothing to set aside, its directory is the killed one's
        assert aside == [] and after[AT] == killed
        return
    assert len(aside) == 1, aside  # what the killed attempt left: set aside, not deleted
    (left,) = aside
    names = {p.name for p in left.iterdir()}
    if step == "begun":
        assert names == set()
    elif step == "body":  # one part whole, the next cut in half
        assert names == {"part0.bin", "part1.bin"}
        assert (left / "part0.bin").read_bytes() == payload(AT, 0)
        assert (left / "part1.bin").read_bytes() == payload(AT, 1)[: PART_SIZE // 2]
    else:  # whole, with its _stet_run.json, but never recorded
        assert check_complete(left, AT) == killed
    # no other run was set aside
    assert sorted((data / ".stet-interrupted").glob(f"*/{NAME}/*")) == aside


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_kill_minus_nine_at_each_step_of_the_commit(
    tmp_path: Path, request: pytest.FixtureRequest, fmt: str, step: str
) -> None:
    check_step(step, store_of(fmt, tmp_path, request), tmp_path)


@pytest.mark.parametrize("step", MAIN_STEPS)
def test_kill_minus_nine_at_each_step_of_the_commit_with_fsync(
    tmp_path: Path, request: pytest.FixtureRequest, step: str
) -> None:
    check_step(step, store_of("csv", tmp_path, request), tmp_path, fsync=True)


@pytest.mark.parametrize("step", MAIN_STEPS)
def test_kill_minus_nine_at_each_step_of_the_commit_on_postgresql(
    tmp_path: Path, request: pytest.FixtureRequest, step: str
) -> None:
    check_step(step, store_of("postgresql", tmp_path, request), tmp_path)


@pytest.mark.parametrize("fmt", ["csv", "sqlite"])
def test_a_dead_process_staging_is_set_aside_at_the_first_run_of_another(
    tmp_path: Path, request: pytest.FixtureRequest, fmt: str
) -> None:
    """Killed in run 2's body; the next process runs only runs 3 and 4, never run 2:
    its first run still sets aside what the dead process of this machine left."""
    store, data = store_of(fmt, tmp_path, request), tmp_path / "data"
    kill_at("body", store, tmp_path)
    sweep_again(store, tmp_path, first=AT + 1)
    assert set(check(store, data, settled=False)) == {0, 1, 3, 4}
    assert not list((data / ".stet-staging" / NAME).iterdir())
    (left,) = interrupted(data, AT)
    assert (left / "part1.bin").read_bytes() == payload(AT, 1)[: PART_SIZE // 2]
    assert not (data / NAME / run_dir(AT)).exists()


def test_a_live_process_staging_is_left_alone(tmp_path: Path) -> None:
    """One process stops (alive) in run 2's body; another sweeps the grid meanwhile: it
    neither runs run 2 nor touches its staging directory; then the first goes on."""
    store, data, log = str(tmp_path / "runs.csv"), tmp_path / "data", tmp_path / "log"
    ready = tmp_path / "ready"
    args = (store, str(data), str(log), "body", str(ready), str(GRID), str(AT))
    holder = Driver(DRIVER, tmp_path, "hang", *args)
    try:
        wait_until(ready.exists, holder)
        (staged,) = (data / ".stet-staging" / NAME).iterdir()
        sweep_again(store, tmp_path)
        assert staged.is_dir() and {p.name for p in staged.iterdir()} == {"part0.bin", "part1.bin"}
        assert set(check(store, data, settled=False)) == {0, 1, 3, 4}
        (tmp_path / "ready.go").touch()  # the holder goes on: writes the rest, commits
        code, _, err = holder.finish()
    finally:
        holder.kill_session()
    assert code != 0 and "never stopped" in err  # its loop ends with that assertion
    found = check(store, data, settled=True)
    assert set(found) == set(range(GRID)) and found[AT] == holder.pid
    assert not (data / ".stet-interrupted").exists()


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.stress
@pytest.mark.parametrize("fmt", ["csv", "sqlite", "parquet"])
def test_kill_minus_nine_at_random_instants_of_runs_with_outputs(
    tmp_path: Path, request: pytest.FixtureRequest, fmt: str
) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    store, data, log = store_of(fmt, tmp_path, request), tmp_path / "data", tmp_path / "log"
    grid, kills = 400, 30
    args = ("stress_sweep", store, str(data), str(log), str(grid))
    killed = 0
    for number in range(kills):
        driver = Driver(DRIVER, tmp_path, *args)
        target = lines(log) + rng.randint(1, 12)
        wait_until(lambda t=target, d=driver: lines(log) >= t or not d.running())
        time.sleep(rng.uniform(0, 0.004))  # any instant of a run: body, commit, record
        driver.kill()
        code, _, err = driver.finish()
        assert code in (-signal.SIGKILL, 0), f"round {number} (seed {seed}): {err}"
        if code == 0:
            break
        killed += 1
        check(store, data, settled=False)  # what is recorded is whole
    assert killed >= kills // 2, f"only {killed} kills landed mid-sweep (seed {seed})"
    sweep_again_stress(store, tmp_path, grid)
    found = check(store, data, settled=True)
    assert set(found) == set(range(grid)), f"seed {seed}"
    runs_started = Counter(i for _, what, i in executions(log) if what == "start")
    assert set(runs_started) == set(range(grid))
    # what each killed attempt left is aside (at most one per kill), each file a prefix
    # of what the body writes, and never the directory its record names
    aside = list((data / ".stet-interrupted").glob(f"*/{NAME}/*"))
    assert len(aside) <= sum(runs_started.values()) - grid + killed, (len(aside), seed)
    for path in aside:
        i = int(path.name.split(",")[0].removeprefix("i="))
        assert path.name.startswith(run_dir(i)), path
        for part in range(PARTS):
            if (path / f"part{part}.bin").exists():
                assert payload(i, part).startswith((path / f"part{part}.bin").read_bytes())
        facts = path / "_stet_run.json"
        if facts.exists() and facts.read_bytes().endswith(b"}\n"):  # (a kill may cut it)
            assert check_complete(path, i) != found[i], path


def sweep_again_stress(store: str, tmp_path: Path, grid: int) -> None:
    data, log = str(tmp_path / "data"), str(tmp_path / "log")
    run(DRIVER, tmp_path, "sweep", store, data, log, str(grid), "0", timeout=120)


# -- a worker stalled past its lease (SIGSTOP: a paused VM, a laptop lid, a swap storm)


def stall_at(step: str, store: str, tmp_path: Path, ready: Path) -> Driver:
    """Start the sweep with 1 s claims, let it stop at ``step`` of run ``AT``, SIGSTOP it
    and wait until its claim has lapsed."""
    data, log = str(tmp_path / "data"), str(tmp_path / "log")
    args = (store, data, log, step, str(ready), str(GRID), str(AT), "1")
    driver = Driver(DRIVER, tmp_path, "hang", *args)
    wait_until(ready.exists, driver)
    os.kill(driver.pid, signal.SIGSTOP)
    time.sleep(2.0)  # twice the lease: no heartbeat renews it meanwhile
    return driver


def resume(driver: Driver, ready: Path) -> None:
    Path(f"{ready}.go").touch()
    os.kill(driver.pid, signal.SIGCONT)
    code, _, err = driver.finish()
    assert code != 0 and "never stopped" in err, err  # its loop ends with that assertion


@pytest.mark.parametrize("fmt", ["csv", "sqlite"])
def test_a_stalled_worker_that_resumes_after_another_recorded_its_run_keeps_its_directory(
    tmp_path: Path, request: pytest.FixtureRequest, fmt: str
) -> None:
    """A stops after its rename, before its record, past its lease; B runs the run again
    (setting A's directory aside), puts its own in place and records it; then A goes on:
    its record finds B's. B's directory must stay in place: its record names it."""
    store, data = store_of(fmt, tmp_path, request), tmp_path / "data"
    ready = tmp_path / "ready"
    stalled = stall_at("after-rename", store, tmp_path, ready)
    try:
        sweep_again(store, tmp_path)  # B: takes run 2 over, its claim having lapsed
        found = check(store, data, settled=True)
        assert set(found) == set(range(GRID)) and found[AT] != stalled.pid
        resume(stalled, ready)
    finally:
        stalled.kill_session()
    after = check(store, data, settled=True)  # B's record still names a whole directory
    assert after == found
    (aside,) = interrupted(data, AT)  # A's directory, set aside by B, not deleted
    assert check_complete(aside, AT) == stalled.pid


@pytest.mark.parametrize("fmt", ["csv", "sqlite"])
def test_a_stalled_worker_that_records_while_another_reruns_its_run_loses_no_directory(
    tmp_path: Path, request: pytest.FixtureRequest, fmt: str
) -> None:
    """A stops after its rename, before its record, past its lease; B claims the run,
    sets A's directory aside and stops in the body; A goes on and records; then B
    finishes, puts its directory in place and finds A's record. A's record must name a
    whole directory then."""
    store, data = store_of(fmt, tmp_path, request), tmp_path / "data"
    ready_a, ready_b = tmp_path / "ready-a", tmp_path / "ready-b"
    stalled = stall_at("after-rename", store, tmp_path, ready_a)
    args = (store, str(data), str(tmp_path / "log"), "body", str(ready_b), str(GRID), str(AT))
    rerun = Driver(DRIVER, tmp_path, "hang", *args)
    try:
        wait_until(ready_b.exists, rerun)
        assert not (data / NAME / run_dir(AT)).exists()  # B set A's directory aside
        resume(stalled, ready_a)  # A records run 2, naming the place B will fill
        (ready_b.parent / f"{ready_b.name}.go").touch()
        code, _, err = rerun.finish()
        assert code != 0 and "never stopped" in err, err
    finally:
        stalled.kill_session()
        rerun.kill_session()
    found = check(store, data, settled=True)
    assert set(found) == set(range(GRID)) and found[AT] == rerun.pid
