"""Why a call runs or skips, as users ask it: ``print(f.explain(...))`` in a script, the
``stet why`` console script, and an explanation shown by a Jupyter cell (its repr).

Every test drives stet from a fresh interpreter, the console script or a real kernel.
"""

from __future__ import annotations

import re
from pathlib import Path

import outside
import pytest
from formats import FILE_FORMATS

ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00"

SWEEP = """
import stet

@stet.once(store=STORE)
def simulate(alpha, seed):
    print("ran", alpha, seed)

for alpha in (0.1, 0.2):
    simulate(alpha, seed=2)
"""


def sweep(store: str, cwd: Path) -> None:
    done = outside.run_script(SWEEP.replace("STORE", repr(store)), cwd, name="sweep.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["ran 0.1 2", "ran 0.2 2"]


@pytest.mark.parametrize("extension", FILE_FORMATS)
def test_a_script_prints_why_a_call_would_run_or_skip(tmp_path: Path, extension: str) -> None:
    store = f"runs.{extension}"
    script = """
        import stet

        @stet.once(store=STORE)
        def simulate(alpha, seed):
            print("ran", alpha, seed)

        print(simulate.explain(0.1, seed=2))
        print(simulate.explain(0.1 + 2e-17, seed=2))
        print(simulate.explain(True, seed=2).state)
    """.replace("STORE", repr(store))
    first = outside.run_script(script, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[:2] == [
        f"simulate(alpha=0.1, seed=2): no store at {store}: nothing recorded yet",
        "  key: alpha=0.1, seed=2",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["script.py"]  # nothing created
    sweep(store, tmp_path)
    done = outside.run_script(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ran" not in done.stdout and done.stderr == ""
    lines = done.stdout.splitlines()
    assert re.fullmatch(
        rf"simulate\(alpha=0\.1, seed=2\): completed at {ISO} in {re.escape(store)}, "
        "so a call skips it",
        lines[0],
    ), lines[0]
    assert lines[2] == (
        f"simulate(alpha=0.10000000000000002, seed=2): not run: no record in {store} "
        "matches, so a call runs it"
    )
    assert (
        "      alpha: 0.1 in the store, 0.10000000000000002 in this call (close, but stet "
        "compares numbers exactly: round the value before the call, such as "
        "round(alpha, 6), to make them one run)"
    ) in lines
    assert lines[-1] == "not run"


def test_the_console_script_says_why_and_exits_0_only_for_a_completed_run(
    tmp_path: Path,
) -> None:
    sweep("runs.csv", tmp_path)
    found = outside.run_cli(["why", "runs.csv", "--where", "alpha=0.1", "seed=2"], tmp_path)
    assert (found.returncode, found.stderr) == (0, "")
    assert re.fullmatch(
        rf"alpha=0\.1, seed=2: completed at {ISO} in runs\.csv \(a run of simulate\)\n"
        r"  key: alpha=0\.1, seed=2\n",
        found.stdout,
    ), found.stdout
    missing = outside.run_cli(
        ["why", "runs.csv", "--where", "alpha=0.1", "--where", "seed=3", "--function", "simulate"],
        tmp_path,
    )
    assert missing.returncode == 1 and missing.stderr == ""
    lines = missing.stdout.splitlines()
    assert lines[0] == "alpha=0.1, seed=3: not run: no record of simulate in runs.csv matches"
    assert lines[2] == "  nearest records of simulate (2 of 2; fewest differing: 1 column):"
    assert lines[4] == "      seed: 2 in the store, 3 given"
    typed = outside.run_cli(["why", "runs.csv", "--where", "alpha='0.1'", "seed=2"], tmp_path)
    assert typed.returncode == 1
    assert (
        "alpha: 0.1 in the store, '0.1' given (a number in the store, a string given: stet "
        "keeps them apart)"
    ) in typed.stdout
    nothing = outside.run_cli(["why", "none.csv", "--where", "alpha=0.1"], tmp_path)
    assert nothing.returncode == 1
    assert nothing.stdout.splitlines()[0] == "alpha=0.1: no store at none.csv: nothing recorded yet"
    assert not (tmp_path / "none.csv").exists()
    usage = outside.run_cli(["why", "runs.csv"], tmp_path)
    assert usage.returncode == 2 and "--where" in usage.stderr
    help_text = outside.run_cli(["why", "--help"], tmp_path).stdout
    assert "Exit code 0 when a completed run matches, 1 otherwise." in " ".join(help_text.split())


def test_a_jupyter_cell_shows_the_explanation(tmp_path: Path) -> None:
    sweep("runs.csv", tmp_path)
    texts = outside.run_notebook(
        [
            """
            import stet

            @stet.once(store="runs.csv")
            def simulate(alpha, seed):
                print("ran", alpha, seed)
            """,
            "simulate.explain(0.1, seed=2)",
            "simulate.explain(0.1000000001, seed=2)",
            "e = simulate.explain(0.3, seed=2)\n"
            "e.state, e.key, [d.column for d in e.nearest[0].differences]",
            "simulate.explain(0.1)",
        ],
        tmp_path,
    )
    assert re.match(
        rf"simulate\(alpha=0\.1, seed=2\): completed at {ISO} in runs\.csv, so a call skips it\n"
        r"  key: alpha=0\.1, seed=2\n$",
        texts[1],
    ), texts[1]
    assert "alpha: 0.1 in the store, 0.1000000001 in this call (close" in texts[2]
    assert texts[3] == "('not run', {'alpha': '0.3', 'seed': '2'}, ['alpha'])\n"
    assert texts[4] == "TypeError: missing a required argument: 'seed'\n"
    assert "ran" not in "".join(texts)


EXPLAIN_READ_ONLY = """
import stet

@stet.once(store="runs/runs.{ext}")
def simulate(alpha, seed):
    print("ran", alpha, seed)

print(simulate.explain(0.1, seed=2).state)
print(simulate.explain(0.3, seed=2).nearest[0].differences[0].text)
"""


@pytest.mark.parametrize("extension", FILE_FORMATS)
def test_a_read_only_store_is_explained_and_left_as_it_is(tmp_path: Path, extension: str) -> None:
    """As a user whom permissions apply to, on a store of mode 444 in a directory of 555."""
    (tmp_path / "runs").mkdir()
    sweep(f"runs/runs.{extension}", tmp_path)
    paths = sorted((tmp_path / "runs").rglob("*"), reverse=True)
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    (tmp_path / "runs").chmod(0o555)
    before = [(p, p.stat().st_mtime_ns, p.stat().st_size) for p in paths]
    try:
        code = EXPLAIN_READ_ONLY.format(ext=extension)
        done = outside.run_script(code, tmp_path, unprivileged=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "completed",
            "alpha: 0.2 in the store, 0.3 in this call",
        ]
        why = ["why", f"runs/runs.{extension}", "--where", "alpha=0.2", "seed=2"]
        found = outside.run_cli(why, tmp_path, unprivileged=True)
        assert (found.returncode, found.stderr) == (0, ""), found.stdout
        assert sorted((tmp_path / "runs").rglob("*"), reverse=True) == paths
        assert [(p, p.stat().st_mtime_ns, p.stat().st_size) for p in paths] == before
    finally:
        for path in [tmp_path / "runs", *paths]:
            if path.is_dir():
                path.chmod(0o755)
