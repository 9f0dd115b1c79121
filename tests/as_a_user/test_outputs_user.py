"""Run outputs as users meet them: a script, a Jupyter kernel, a user who may not write
the outputs directory, an outputs path that is a file, and extreme values in the key."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import outside
import pytest

SIMULATE = """
import sys
import stet

@stet.once(store="runs.csv", outputs="data")
def simulate(alpha, seed):
    print("BODY RAN", alpha, seed)
    directory = stet.output_dir()
    (directory / "trace.txt").write_text(f"{alpha} {seed}\\n")
    return None

for seed in (1, 2):
    simulate(0.1, seed)
try:
    stet.output_dir()
except RuntimeError as error:
    print("OUTSIDE", error)
"""


def test_a_script_writes_each_run_s_directory_and_a_second_start_skips(tmp_path: Path) -> None:
    first = outside.run_script(SIMULATE, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("BODY RAN") == 2
    assert "OUTSIDE stet.output_dir() is called outside the body" in first.stdout
    for seed in (1, 2):
        run = tmp_path / "data" / "simulate" / f"alpha=0.1,seed={seed}"
        assert (run / "trace.txt").read_text() == f"0.1 {seed}\n"
        facts = json.loads((run / "_stet_run.json").read_text())
        assert facts["function"] == "simulate"
        assert facts["parameters"] == {"alpha": 0.1, "seed": seed}
    store = (tmp_path / "runs.csv").read_text()
    assert '"data/simulate/alpha=0.1,seed=1"' in store  # relative to the store's directory
    second = outside.run_script(SIMULATE, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "BODY RAN" not in second.stdout
    assert sorted(p.name for p in (tmp_path / "data" / "simulate").iterdir()) == [
        "alpha=0.1,seed=1",
        "alpha=0.1,seed=2",
    ]


def test_a_notebook_writes_into_output_dir(tmp_path: Path) -> None:
    cells = [
        """
        import stet

        @stet.once(store="runs.csv", outputs="data")
        def measure(n):
            (stet.output_dir() / "n.txt").write_text(str(n))
            print("BODY RAN", n)
        """,
        "for n in range(3): measure(n)",
        "for n in range(4): measure(n)",
        "stet.output_dir()",
    ]
    texts = outside.run_notebook(cells, tmp_path)
    assert texts[1].count("BODY RAN") == 3
    assert texts[2].count("BODY RAN") == 1 and "BODY RAN 3" in texts[2]
    assert "RuntimeError: stet.output_dir() is called outside the body" in texts[3]
    for n in range(4):
        assert (tmp_path / "data" / "measure" / f"n={n}" / "n.txt").read_text() == str(n)


REFUSED = """
import os, sys
import stet

@stet.once(store="runs.csv", outputs=sys.argv[1])
def simulate(alpha):
    open("body-ran.txt", "a").write(f"{alpha}\\n")
    (stet.output_dir() / "x.txt").write_text("x")

try:
    simulate(0.5)
except Exception as error:
    print("REFUSED", type(error).__name__, error)
else:
    print("NOT REFUSED")
"""


@pytest.fixture
def restore(tmp_path: Path) -> Iterator[None]:
    """Give the test's directories back their write permission, for the clean-up."""
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


def check_refused(tmp_path: Path, result: subprocess.CompletedProcess[str], names: str) -> None:
    """The call was refused before its body ran, naming ``names`` and the way out, and
    nothing was recorded."""
    assert result.returncode == 0, result.stderr
    assert "REFUSED OutputsNotWritableError simulate() did not run" in result.stdout, result.stdout
    assert names in result.stdout, result.stdout
    assert "Give @stet.once(outputs=...) a directory this user can write" in result.stdout
    assert not (tmp_path / "body-ran.txt").exists()  # the body never ran
    store = tmp_path / "runs.csv"
    assert not store.exists() or store.read_text().count("\n") <= 1  # no record


@pytest.mark.usefixtures("restore")
@pytest.mark.parametrize("where", ["outputs", "its parent", "the function's directory"])
def test_a_user_who_may_not_write_the_outputs_is_refused_before_the_body(
    tmp_path: Path, where: str
) -> None:
    tmp_path.chmod(0o777)  # the project: this user writes the store and the script here
    if where == "outputs":
        locked = tmp_path / "data"
        locked.mkdir(mode=0o555)
        outputs = "data"
    elif where == "its parent":
        locked = tmp_path / "shared"
        locked.mkdir(mode=0o555)
        outputs = "shared/data"  # made at the first run: in a directory this user can't write
    else:  # another user's run made the function's directory; this user can't add to it
        (tmp_path / "data").mkdir(mode=0o777)
        locked = tmp_path / "data" / "simulate"
        locked.mkdir(mode=0o555)
        outputs = "data"
    locked.chmod(0o555)
    result = outside.run_script(REFUSED, tmp_path, outputs, unprivileged=True)
    check_refused(tmp_path, result, str(locked))


def test_an_outputs_path_that_is_a_file_is_refused_before_the_body(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    for outputs in ("data", "data/sub"):
        result = outside.run_script(REFUSED, tmp_path, outputs)
        check_refused(tmp_path, result, f"{tmp_path / 'data'} is a file, not a directory")
    assert (tmp_path / "data").read_text() == "not a directory"


EXTREMES = """
import json, sys
import numpy as np
import stet

ran = []

@stet.once(store=sys.argv[1], outputs="data")
def f(v):
    (stet.output_dir() / "value.txt").write_text(repr(v))
    ran.append(repr(v))

values = [
    "x" * 300, "αβγ", "日本語", "a/b", "../../escape", "..", ".", "", " ", "a\\\\b", "a\\nb",
    float("nan"), -0.0, 0.0, 1e308, -1e-308, 10**40, -(10**40), True, 1, "1", None, "None",
    (1, 2), ("a/b", ".."), (), np.arange(5), np.zeros((2, 2)), "a,b=c", "~", "$HOME", "A", "a",
]
for v in values:
    f(v)
print(json.dumps(ran))
"""


@pytest.mark.parametrize("ext", ["csv", "sqlite"])
def test_extreme_key_values_get_safe_distinct_directories(tmp_path: Path, ext: str) -> None:
    result = outside.run_script(EXTREMES, tmp_path, f"runs.{ext}")
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout.strip().splitlines()[-1])
    function_dir = tmp_path / "data" / "f"
    runs = sorted(function_dir.iterdir())
    # everything stet made is inside data/: nothing escaped upwards
    made = {p.name for p in tmp_path.iterdir() if not p.name.startswith(f"runs.{ext}")}
    assert made == {"data", "script.py"}, made
    assert {p.name for p in (tmp_path / "data").iterdir()} <= {"f", ".stet-staging"}
    for run in runs:
        assert run.parent == function_dir and run.is_dir()
        assert "/" not in run.name and run.name not in (".", "..") and len(run.name) <= 100
        assert run.name.startswith(("v=", "id-")), run.name
        assert (run / "_stet_run.json").is_file() and (run / "value.txt").is_file()
    # distinct runs, distinct directories: one per record, each its own value
    records = outside.run_script(
        "import json, sys, stet; print(json.dumps(len(stet.records(sys.argv[1]))))",
        tmp_path,
        f"runs.{ext}",
        name="count.py",
    )
    count = json.loads(records.stdout)
    assert len(runs) == count == len(ran) >= 30  # (-0.0 and 0.0 are one run)
    assert sorted((run / "value.txt").read_text() for run in runs) == sorted(ran)
    again = outside.run_script(EXTREMES, tmp_path, f"runs.{ext}")
    assert again.returncode == 0, again.stderr
    assert sorted(function_dir.iterdir()) == runs  # a second start skips every one
    assert os.listdir(tmp_path / "data" / ".stet-staging" / "f") == []


TWO_STORES = """
import sys
import stet

store = sys.argv[1]

@stet.once(store=store, outputs="data", name="simulate")
def simulate(alpha):
    (stet.output_dir() / "store.txt").write_text(store)

simulate(0.1)
"""


def test_two_stores_sharing_one_outputs_directory_keep_their_own_directories(
    tmp_path: Path,
) -> None:
    first = outside.run_script(TWO_STORES, tmp_path, "a.csv")
    assert first.returncode == 0, first.stderr
    second = outside.run_script(TWO_STORES, tmp_path, "b.csv")  # refused before its body
    assert second.returncode == 1
    assert "holds a run of another store" in second.stderr and "a.csv" in second.stderr
    assert "give each store its own outputs directory" in second.stderr
    assert not (tmp_path / "b.csv").exists()
    # a's record names data/simulate/alpha=0.1: it must hold a's files (or b's call is
    # refused with a clear error, leaving a's directory alone)
    assert (tmp_path / "data" / "simulate" / "alpha=0.1" / "store.txt").read_text() == "a.csv"
