"""A sweep with outputs as its user meets it: a script, then ``stet show``, ``stet
status`` and ``stet reset --where ... --purge``; and another user (permissions apply)
reading a read-only store and outputs directory with ``stet.outputs`` and ``stet.load``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import outside
import pytest

SWEEP = """
import stet

@stet.once(store="runs/results.csv", outputs="runs/data")
def simulate(alpha, seed):
    (stet.output_dir() / "trace.txt").write_text(f"{alpha} {seed}\\n" * 1000)

for alpha in (0.1, 0.2):
    for seed in (1, 2, 3):
        simulate(alpha, seed)
"""

READ = """
import stet

for parameters, path in stet.outputs("runs/results.csv", {"seed": 2}):
    first = (path / "trace.txt").read_text().splitlines()[0]
    print("read", parameters["alpha"], parameters["seed"], first, path.parent.name)
frame = stet.load("runs/results.csv")
print("load", frame["alpha"].tolist(), frame["_stet_output"].str.endswith("seed=3").sum())
"""


def sweep(cwd: Path) -> None:
    done = outside.run_script(SWEEP, cwd, name="sweep.py")
    assert done.returncode == 0, done.stderr
    assert len(outside.stet_lines(done.stdout)) == 0  # six runs, none skipped


@pytest.fixture
def restore(tmp_path: Path) -> Iterator[None]:
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


def make_read_only(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    directory.chmod(0o555)


def listing(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.lstat().st_mode, p.lstat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
    }


def test_show_status_and_a_purging_reset_from_the_terminal(tmp_path: Path) -> None:
    sweep(tmp_path)
    show = outside.run_cli(["show", "runs/results.csv"], tmp_path)
    assert show.returncode == 0, show.stderr
    header, *rows = show.stdout.splitlines()
    assert header.split() == ["alpha", "seed", "_stet_timestamp", "output"]
    assert rows[0].split()[-1] == "runs/data/simulate/alpha=0.1,seed=1"
    assert len(rows) == 6

    status = outside.run_cli(["status", "runs/results.csv"], tmp_path)
    assert status.returncode == 0, status.stderr
    lines = outside.stet_lines(status.stdout)
    (line,) = [line for line in lines if line.startswith("[stet] Outputs of simulate:")]
    assert line.startswith("[stet] Outputs of simulate: 6 output directories, ")
    assert line.endswith(" kB, in runs/data")
    facts = json.loads(outside.run_cli(["status", "runs/results.csv", "--json"], tmp_path).stdout)
    assert facts["outputs"]["simulate"]["runs"] == 6

    asked = outside.run_cli(
        ["reset", "runs/results.csv", "--where", "seed=2", "--purge"], tmp_path, stdin="y\n"
    )
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.splitlines()[-2:] == [  # the answer is not echoed: one line
        "[stet] Remove 2 runs matching seed=2 from runs/results.csv, and delete their 2 output "
        "directories (purge)? [y/N] [stet] Removed 2 runs matching seed=2 from runs/results.csv",
        "[stet] Deleted 2 output directories",
    ]
    left = sorted(p.name for p in (tmp_path / "runs" / "data" / "simulate").iterdir())
    assert left == [f"alpha={a},seed={s}" for a in (0.1, 0.2) for s in (1, 3)]
    assert not (tmp_path / "runs" / "data" / ".stet-reset").exists()

    moved = outside.run_cli(["reset", "runs/results.csv", "--where", "seed=1", "--yes"], tmp_path)
    assert moved.returncode == 0, moved.stderr
    (place,) = (tmp_path / "runs" / "data" / ".stet-reset").iterdir()
    assert outside.stet_lines(moved.stdout)[-1] == (
        f"[stet] Moved 2 output directories aside to runs/data/.stet-reset/{place.name}/"
    )
    assert sorted(p.name for p in (place / "simulate").iterdir()) == [
        "alpha=0.1,seed=1",
        "alpha=0.2,seed=1",
    ]


def test_another_user_reads_a_read_only_store_and_its_outputs(
    tmp_path: Path, restore: None
) -> None:
    sweep(tmp_path)
    runs = tmp_path / "runs"
    make_read_only(runs)
    before = listing(runs)
    read = outside.run_script(READ, tmp_path, name="read.py", unprivileged=True)
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines() == [
        "read 0.1 2 0.1 2 simulate",
        "read 0.2 2 0.2 2 simulate",
        "load [0.1, 0.1, 0.1, 0.2, 0.2, 0.2] 2",
    ]
    for command in (["show", "runs/results.csv"], ["status", "runs/results.csv"]):
        done = outside.run_cli(command, tmp_path, unprivileged=True)
        assert done.returncode == 0, done.stderr
    assert listing(runs) == before  # nothing made, nothing changed


def test_a_reset_that_could_not_move_the_outputs_changes_nothing(
    tmp_path: Path, restore: None
) -> None:
    sweep(tmp_path)
    make_read_only(tmp_path / "runs" / "data")  # the store stays writable, its outputs not
    before = (tmp_path / "runs" / "results.csv").read_text()
    done = outside.run_cli(
        ["reset", "runs/results.csv", "--where", "seed=1", "--yes"], tmp_path, unprivileged=True
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        "stet: error: runs/results.csv: stet could not move aside the output directory "
    )
    assert "nothing changed" in done.stderr
    assert (tmp_path / "runs" / "results.csv").read_text() == before
