"""Run outputs (``@stet.once(outputs="data")``): each run's own directory, put in place
with its record; what a run that raises leaves; leftovers of killed runs set aside.

Killing at each step of the commit is in test_outputs_crash.py; many workers at once in
test_outputs_workers.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import stet
from stet._batch import run_batch
from stet._registry import get_store

HOST = socket.gethostname()


def output_cells(store: str) -> list[str]:
    """The ``_stet_output`` cells of a store's records, in order, as the store holds them."""
    snapshot = get_store(store).snapshot()
    header = snapshot.header
    if "_stet_output" not in header:
        return []
    return [str(cell) for cell in snapshot.columns[header.index("_stet_output")]]


def function_dir(data: Path, function: str = "simulate") -> str:
    """The name of the directory of a function defined in a test (``test_x.simulate-…``)."""
    names = [p.name for p in data.iterdir()] if data.exists() else []
    found = [n for n in names if n.rpartition("-")[0].endswith("." + function)]
    return found[0] if len(found) == 1 else function


def in_place(data: Path, function: str = "simulate") -> list[str]:
    """The run directories in place under ``data/<function>/``."""
    top = data / function_dir(data, function)
    return sorted(p.name for p in top.iterdir()) if top.exists() else []


def test_each_run_gets_a_readable_directory_named_in_its_record(
    location: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"

    @stet.once(name="simulate", store=location, outputs=data)
    def simulate(alpha: float, seed: int = 0) -> None:
        directory = stet.output_dir()
        assert ".stet-staging" in directory.parts  # not in place while the body runs
        (directory / "values.txt").write_text(f"{alpha} {seed}")

    simulate(0.1, seed=2)
    simulate(0.25, seed=3)
    assert in_place(data) == ["alpha=0.1,seed=2", "alpha=0.25,seed=3"]
    run = data / "simulate" / "alpha=0.1,seed=2"
    assert (run / "values.txt").read_text() == "0.1 2"
    facts = json.loads((run / "_stet_run.json").read_text())
    assert facts["function"] == "simulate"
    assert facts["parameters"] == {"alpha": 0.1, "seed": 2}
    assert facts["started"] <= facts["completed"]
    assert facts["host"] == HOST
    cells = output_cells(location)
    if location.startswith("postgresql://"):  # a server: the absolute path
        assert cells == [str(run), str(data / "simulate" / "alpha=0.25,seed=3")]
    else:  # relative to the store's directory
        assert cells == ["data/simulate/alpha=0.1,seed=2", "data/simulate/alpha=0.25,seed=3"]
    assert os.listdir(data / ".stet-staging" / "simulate") == []


def test_a_skipped_call_leaves_the_directory_as_it_is(tmp_path: Path) -> None:
    calls = []

    @stet.once(
        name="simulate", store=tmp_path / "runs.csv", outputs=tmp_path / "data", verbose=False
    )
    def simulate(alpha: float) -> None:
        calls.append(alpha)
        (stet.output_dir() / "x").write_text("first")

    simulate(0.5)
    simulate(0.5)
    assert calls == [0.5]
    assert (tmp_path / "data" / "simulate" / "alpha=0.5" / "x").read_text() == "first"
    assert len(output_cells(str(tmp_path / "runs.csv"))) == 1


@pytest.mark.parametrize(
    "value",
    [
        "x" * 300,
        "a/b",
        "..",
        "",
        "with space",
        "naïve",
        "a,b=c",
        float("nan"),
        2**80,
        (1, 2),
        None,
    ],
    ids=repr,
)
def test_unsafe_or_long_values_get_an_id_inside_the_function_directory(
    value: object, tmp_path: Path
) -> None:
    data = tmp_path / "data"

    @stet.once(name="simulate", store=tmp_path / "runs.csv", outputs=data)
    def simulate(alpha: object, seed: int = 1) -> None:
        (stet.output_dir() / "x").write_text("x")

    simulate(value)
    simulate("plain")  # another run: another directory
    names = in_place(data)
    assert len(names) == 2
    assert "alpha=plain,seed=1" in names
    other = next(n for n in names if n != "alpha=plain,seed=1")
    if value in (2**80, None, "..") or value != value:  # safe text: readable
        assert other == f"alpha={value},seed=1"
    else:
        assert other.startswith("id-") and len(other) == 19
    for path in data.rglob("*"):  # nothing escaped the outputs directory
        assert data in path.parents


def test_the_id_of_a_run_is_stable_across_processes(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text(
        "import stet\n"
        "@stet.once(store='runs.csv', outputs='data')\n"
        "def simulate(alpha): pass\n"
        "simulate('a b')\n"
    )
    for store in ("one", "two"):
        work = tmp_path / store
        work.mkdir()
        subprocess.run([sys.executable, str(script)], cwd=work, check=True)
    assert in_place(tmp_path / "one" / "data") == in_place(tmp_path / "two" / "data")
    assert in_place(tmp_path / "one" / "data")[0].startswith("id-")


def test_a_function_without_parameters_and_one_with_an_unsafe_name(tmp_path: Path) -> None:
    data = tmp_path / "data"

    @stet.once(name="prepare", store=tmp_path / "runs.csv", outputs=data)
    def prepare() -> None:
        (stet.output_dir() / "x").write_text("x")

    @stet.once(store=tmp_path / "runs.csv", outputs=data, name="../a b")
    def other(k: int) -> None:
        (stet.output_dir() / "x").write_text("x")

    prepare()
    other(1)
    assert in_place(data, "prepare") == ["run"]
    functions = sorted(p.name for p in data.iterdir() if not p.name.startswith("."))
    assert functions[1] == "prepare"
    assert functions[0].startswith("a_b-") and "/" not in functions[0]
    assert (data / functions[0] / "k=1" / "x").exists()


def test_output_dir_outside_a_run_says_where_it_works(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="outside the body of a run that has outputs"):
        stet.output_dir()

    @stet.once(store=tmp_path / "runs.csv")
    def without(x: int) -> None:
        stet.output_dir()

    with pytest.raises(RuntimeError, match=r'@stet.once\(outputs="data"\)'):
        without(1)
    assert not (tmp_path / "runs.csv").exists()


def test_nested_runs_threads_and_tasks_each_see_their_own(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seen: dict[str, Path] = {}

    @stet.once(store=tmp_path / "runs.csv", outputs=data)
    def inner(k: int) -> None:
        seen[f"inner{k}"] = stet.output_dir()

    @stet.once(store=tmp_path / "runs.csv", outputs=data)
    def outer(k: int) -> None:
        before = stet.output_dir()
        inner(k)
        assert stet.output_dir() == before  # given back after the inner run
        seen[f"outer{k}"] = before

    threads = [threading.Thread(target=outer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen.values())) == 8

    @stet.once(store=tmp_path / "runs.csv", outputs=data)
    async def task(k: int) -> None:
        mine = stet.output_dir()
        await asyncio.sleep(0.01)
        assert stet.output_dir() == mine
        (mine / "k").write_text(str(k))

    async def main() -> None:
        await asyncio.gather(*(task(k) for k in range(5)))

    asyncio.run(main())
    for k in range(5):
        assert (data / function_dir(data, "task") / f"k={k}" / "k").read_text() == str(k)


def test_a_run_that_raises_leaves_nothing_in_place(tmp_path: Path) -> None:
    data = tmp_path / "data"

    @stet.once(name="simulate", store=tmp_path / "runs.csv", outputs=data)
    def simulate(alpha: float) -> None:
        (stet.output_dir() / "partial").write_text("half")
        raise ValueError("diverged")

    with pytest.raises(ValueError, match="diverged"):
        simulate(0.1)
    assert in_place(data) == []
    assert os.listdir(data / ".stet-staging" / "simulate") == []
    assert not (tmp_path / "runs.csv").exists()


def test_a_recorded_failure_keeps_its_directory_aside_and_names_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = str(tmp_path / "runs.csv")
    attempts = []

    @stet.once(name="simulate", store=store, outputs=data, failures="record")
    def simulate(alpha: float) -> None:
        attempts.append(alpha)
        (stet.output_dir() / "attempt").write_text(str(len(attempts)))
        if len(attempts) == 1:
            raise ValueError("diverged")

    with pytest.raises(ValueError):
        simulate(0.1)
    assert in_place(data) == []
    (failed,) = output_cells(store)
    assert failed.startswith("data/.stet-failed/") and failed.endswith("/simulate/alpha=0.1")
    assert (tmp_path / failed / "attempt").read_text() == "1"
    assert stet.records(store, failed=True)[0]["_stet_error"] == "ValueError: diverged"
    simulate(0.1)  # runs again, and its directory is put in place
    assert (data / "simulate" / "alpha=0.1" / "attempt").read_text() == "2"
    assert (tmp_path / failed / "attempt").read_text() == "1"  # the failure's stays


def test_leftovers_of_a_killed_attempt_are_set_aside_when_the_run_runs_again(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"

    @stet.once(name="simulate", store=tmp_path / "runs.csv", outputs=data)
    def simulate(alpha: float) -> None:
        assert not (data / "simulate" / "alpha=0.1").exists()
        (stet.output_dir() / "new").write_text("new")

    store = simulate._stet_runner.outputs.store_id  # type: ignore[attr-defined]
    staging = data / ".stet-staging" / "simulate"
    staging.mkdir(parents=True)
    other_host = staging / f"alpha=0.1~{store}~node7~4121~0a0b0c0d"  # killed elsewhere
    other_host.mkdir()
    (other_host / "half").write_text("half")
    orphan = data / "simulate" / "alpha=0.1"  # renamed into place, then killed: no record
    orphan.mkdir(parents=True)
    (orphan / "whole").write_text("whole")
    unrelated = staging / f"alpha=0.2~{store}~node7~4121~0a0b0c0e"  # another run's: stays
    unrelated.mkdir()
    other_store = staging / "alpha=0.1~0123abcd~node7~4121~0a0b0c0f"  # another store's
    other_store.mkdir()

    simulate(0.1)
    assert sorted(os.listdir(data / "simulate" / "alpha=0.1")) == ["_stet_run.json", "new"]
    aside = sorted(p.relative_to(data).as_posix() for p in data.glob(".stet-interrupted/*/*/*"))
    assert len(aside) == 2 and all(p.endswith("/simulate/alpha=0.1") for p in aside)
    kept = sorted(f.name for f in data.glob(".stet-interrupted/*/*/*/*"))
    assert kept == ["half", "whole"]  # set aside, never deleted
    assert unrelated.exists() and other_store.exists()


def test_a_run_of_another_store_in_place_is_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ran = []

    def make(store: str) -> object:
        @stet.once(name="simulate", store=tmp_path / store, outputs=data)
        def simulate(alpha: float) -> None:
            ran.append(store)
            (stet.output_dir() / "by").write_text(store)

        return simulate

    first, second = make("first.csv"), make("second.csv")
    first(0.1)  # type: ignore[operator]
    with pytest.raises(FileExistsError, match=r"holds a run of another store \(.*first.csv\)"):
        second(0.1)  # type: ignore[operator]
    assert ran == ["first.csv"]  # refused before its body
    assert (data / "simulate" / "alpha=0.1" / "by").read_text() == "first.csv"
    assert not (tmp_path / "second.csv").exists()
    assert output_cells(str(tmp_path / "first.csv")) == ["data/simulate/alpha=0.1"]


def test_a_first_run_sets_aside_staging_of_dead_processes_of_this_machine(
    tmp_path: Path,
) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)
    staging = tmp_path / "data" / ".stet-staging" / "simulate"
    staging.mkdir(parents=True)
    mine = staging / f"alpha=0.9~0123abcd~{HOST}~{pid}~00000000"  # any store's
    mine.mkdir()
    elsewhere = staging / f"alpha=0.9~0123abcd~not-{HOST}~{pid}~00000001"
    elsewhere.mkdir()
    script = tmp_path / "s.py"
    script.write_text(
        "import stet\n"
        "@stet.once(store='runs.csv', outputs='data')\n"
        "def simulate(alpha): pass\n"
        "simulate(0.1)\n"
    )
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True)
    assert not mine.exists()
    assert elsewhere.exists()  # its machine's processes may live: left to its run
    assert [p.name for p in tmp_path.glob("data/.stet-interrupted/*/simulate/*")] == ["alpha=0.9"]


def test_outputs_that_cannot_work_are_refused_when_decorated(tmp_path: Path) -> None:
    store = tmp_path / "runs.csv"
    with pytest.raises(ValueError, match="outputs= needs claims"):
        stet.once(store=store, outputs="data", claims=False)
    with pytest.raises(TypeError, match="outputs must be a directory path"):
        stet.once(store=store, outputs=3)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="directory on a file system"):
        stet.once(store=store, outputs="")
    with pytest.raises(ValueError, match="is the store file itself"):
        stet.once(store=store, outputs=store)


def test_an_outputs_path_that_is_a_file_is_refused_before_the_body(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    ran = []

    @stet.once(name="simulate", store=tmp_path / "runs.csv", outputs=tmp_path / "data")
    def simulate(alpha: float) -> None:
        ran.append(alpha)

    with pytest.raises(PermissionError, match=r"did not run.*is a file, not a directory"):
        simulate(0.1)
    assert ran == []
    assert not (tmp_path / "runs.csv").exists()


def test_a_key_parameter_added_later_keeps_the_old_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = str(tmp_path / "runs.csv")

    @stet.once(name="simulate", store=store, outputs=data)
    def simulate(alpha: float) -> None:
        (stet.output_dir() / "x").write_text("old")

    simulate(0.1)

    @stet.once(name="simulate", store=store, outputs=data, verbose=False)  # type: ignore[no-redef]
    def simulate(alpha: float, seed: int = 0) -> None:
        (stet.output_dir() / "x").write_text("new")

    simulate(0.1)  # the old run, seed=0 by its default: skipped
    simulate(0.1, seed=1)
    assert in_place(data) == ["alpha=0.1", "alpha=0.1,seed=1"]
    assert output_cells(store) == ["data/simulate/alpha=0.1", "data/simulate/alpha=0.1,seed=1"]


def test_results_are_kept_beside_the_directory(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.csv")

    @stet.once(name="simulate", store=store, outputs=tmp_path / "data", results=True, verbose=False)
    def simulate(alpha: float) -> dict[str, float]:
        return {"loss": alpha * 2}

    assert simulate(0.5) == {"loss": 1.0}
    assert simulate(0.5) == {"loss": 1.0}  # skipped: its result, without the path
    assert get_store(store).snapshot().header == [
        "alpha",
        "result.loss",
        "_stet_output",
        "_stet_timestamp",
    ]


def test_a_sweep_makes_the_directory_and_a_worker_without_it_is_told(tmp_path: Path) -> None:
    data = tmp_path / "data"

    @stet.once(name="simulate", store=tmp_path / "runs.csv", outputs=data, verbose=False)
    def simulate(alpha: float) -> None:
        (stet.output_dir() / "x").write_text(str(alpha))

    summary = stet.sweep(simulate, {"alpha": [0.1, 0.2, 0.3]}, progress=False)
    assert summary.ran == 3
    assert in_place(data) == ["alpha=0.1", "alpha=0.2", "alpha=0.3"]

    @stet.once(store=tmp_path / "other.csv", outputs=tmp_path / "elsewhere")
    def remote(alpha: float) -> None:
        pass

    # what a worker on a machine that does not share the directory meets
    with pytest.raises(FileNotFoundError, match="every worker reaches"):
        run_batch(remote, [{"alpha": 0.1}])
    assert not (tmp_path / "elsewhere").exists()


def test_a_directory_of_another_run_of_the_store_in_its_place_is_left_alone(
    tmp_path: Path,
) -> None:
    """Two runs whose names coincide (``a=A`` and ``a=a`` on a file system that ignores
    case): the second must not take the first's recorded directory for a leftover."""
    data = tmp_path / "data"
    store = tmp_path / "runs.csv"
    ran = []

    @stet.once(name="simulate", store=store, outputs=data)
    def simulate(a: str) -> None:
        ran.append(a)
        (stet.output_dir() / "by").write_text(a)

    simulate("A")
    first = data / "simulate" / "a=A"
    facts = json.loads((first / "_stet_run.json").read_text())
    collided = data / "simulate" / "a=a"  # what a case-insensitive system gives a=a
    collided.mkdir()
    (collided / "by").write_text("A")
    (collided / "_stet_run.json").write_text(json.dumps(facts))
    with pytest.raises(FileExistsError, match="holds another run of this store"):
        simulate("a")
    assert ran == ["A"]  # refused before its body
    assert (collided / "by").read_text() == "A"
    assert not list(data.glob(".stet-interrupted/*"))
