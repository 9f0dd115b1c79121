"""Nothing lost, and every store opens (issue 13), as users reach stet: scripts in fresh
interpreters, the ``stet`` console script, a real Jupyter kernel.

A long value in the default CSV store, a parameter named ``result`` in SQLite, a store
reached through a symbolic link by two processes at once, and a Parquet store read by
pandas and DuckDB in the notebook that just wrote it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import outside

BIG_ARRAY = """
import numpy as np
import stet

@stet.once
def fit(weights, label):
    print("ran", label)

fit(np.arange(25_000) / 3, "array")   # its cell is about 450,000 characters
fit(tuple(range(40_000)), "tuple")
fit("a, b" * 100_000, "string")
fit(1, "small")
"""


def test_a_long_value_in_the_default_store_opens_again(tmp_path: Path) -> None:
    first = outside.run_script(BIG_ARRAY, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split("\n")[:4] == ["ran array", "ran tuple", "ran string", "ran small"]
    second = outside.run_script(BIG_ARRAY, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "ran" not in second.stdout
    assert len(outside.stet_lines(second.stdout)) == 4  # four skips
    status = outside.run_cli(["status"], tmp_path)
    assert status.returncode == 0, status.stderr
    assert "4 completed experiments recorded" in status.stdout
    show = outside.run_cli(["show"], tmp_path)
    assert show.returncode == 0, show.stderr
    assert "small" in show.stdout and "a, ba, b" in show.stdout
    loaded = outside.run_script(
        """
        import stet
        frame = stet.load()
        print(list(frame["label"]), len(str(stet.records()[1]["weights"])))
        """,
        tmp_path,
        name="read.py",
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "['array', 'tuple', 'string', 'small'] 268890\n"


RESULT_PARAMETER = """
import stet

@stet.once(store="runs.sqlite")
def label(n, result):
    print("ran", n, result)

for result in "abc":
    label(1, result)
"""


def test_a_parameter_named_result_keeps_every_run_in_sqlite(tmp_path: Path) -> None:
    first = outside.run_script(RESULT_PARAMETER, tmp_path)
    assert first.stdout == "ran 1 a\nran 1 b\nran 1 c\n", first.stderr
    second = outside.run_script(RESULT_PARAMETER, tmp_path)
    assert "ran" not in second.stdout
    assert outside.stet_lines(second.stdout) == [
        f"[stet] Skipping label(n=1, result='{r}')" for r in "abc"
    ]
    status = outside.run_cli(["status", "runs.sqlite"], tmp_path)
    assert "3 completed experiments recorded" in status.stdout, status.stderr


LINKED = """
import sys
import stet

store = sys.argv[1]

@stet.once(store=store, verbose=False)
def step(who, n):
    print("ran", who, n, flush=True)

@stet.once(store=store, verbose=False)
def check(who, n, tolerance):  # joins the store with a new column: a rewrite of the CSV
    print("ran check", who, n, flush=True)

for n in range(30):
    step(sys.argv[2], n)
    if n == 15:
        check(sys.argv[2], n, 1e-3)
"""


def test_two_processes_one_through_a_symbolic_link_share_one_store(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link.csv").symlink_to(tmp_path / "real" / "s.csv")
    (tmp_path / "sweep.py").write_text(textwrap.dedent(LINKED))
    runs = [
        subprocess.Popen(
            [sys.executable, "sweep.py", path, who],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path, who in (("link.csv", "A"), ("real/s.csv", "B"))
    ]
    outputs = [run.communicate(timeout=outside.TIMEOUT) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert (tmp_path / "link.csv").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real", "sweep.py"]
    assert {"s.csv", "s.csv.lock"} <= {p.name for p in (tmp_path / "real").iterdir()}
    for path in ("link.csv", "real/s.csv"):
        status = outside.run_cli(["status", path], tmp_path)
        assert "62 completed experiments recorded" in status.stdout, status.stderr
    again = outside.run_script(LINKED, tmp_path, "real/s.csv", "A", name="again.py")
    assert again.returncode == 0, again.stderr
    assert not [line for line in again.stdout.splitlines() if line.startswith("ran")]
    # the one note a copy of the script gets: the runs were recorded by sweep.py
    assert "recorded in real/s.csv by ../sweep.py; this call is from ../again.py" in again.stdout


def test_a_notebook_reads_its_parquet_store_with_pandas_and_duckdb(tmp_path: Path) -> None:
    texts = outside.run_notebook(
        [
            """
            import duckdb, pandas as pd, stet

            @stet.once(store="runs.parquet", verbose=False)
            def simulate(alpha, seed):
                return alpha * seed
            """,
            "grid = {'alpha': [0.1, 0.2], 'seed': range(5)}\n"
            "summary = stet.sweep(simulate, grid, progress=False)",
            "len(pd.read_parquet('runs.parquet'))",
            "duckdb.sql(\"SELECT count(*) FROM read_parquet('runs.parquet/**')\").fetchall()",
            "for seed in range(5, 8):\n    simulate(0.3, seed)\nstet.status('runs.parquet')",
            "len(pd.read_parquet('runs.parquet'))",
            "duckdb.sql(\"SELECT count(*) FROM read_parquet('runs.parquet/**')\").fetchall()",
        ],
        tmp_path,
    )
    assert texts[2] == "10\n", texts
    assert texts[3] == "[(10,)]\n", texts
    assert "13 completed experiments recorded" in texts[4], texts
    assert texts[5] == "13\n", texts
    assert texts[6] == "[(13,)]\n", texts
    assert sorted(p.suffix for p in (tmp_path / "runs.parquet").iterdir()) == [".parquet"] * len(
        list((tmp_path / "runs.parquet").iterdir())
    )
