"""The announcement's transcript, line for line: as a script and as notebook cells.

examples/quickstart.py runs in a subprocess in a temporary directory; the same cells
also run one by one in a single interpreter, as Jupyter runs them (under IPython's own
shell too, when IPython is installed).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
SLEEP = 0.2  # seconds per call (the announcement's 1 s, shortened)

ISO_UTC = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00"
SKIPPING = [
    "[stet] Skipping calculation(alpha=np.float64(0.0), beta=np.float64(0.0))",
    "[stet] Skipping calculation(alpha=np.float64(0.0), beta=np.float64(1.0))",
    "[stet] Skipping calculation(alpha=np.float64(1.0), beta=np.float64(0.0))",
    "[stet] Skipping calculation(alpha=np.float64(1.0), beta=np.float64(1.0))",
]
CLEARED = "[stet] Store cleared: _stet_store.csv"
STORE_LINE = "[stet] Store: _stet_store.csv"
COUNT_LINE = "[stet] 4 completed experiments recorded"
LAST_RUN = re.compile(re.escape("[stet] Last run: ") + f"({ISO_UTC})")
KEYS_LINE = "[stet] Key columns: alpha, beta"


def run_python(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,  # as in CI and Jupyter: reset does not ask
        capture_output=True,
        text=True,
        timeout=120,
    )


def stet_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("[stet]")]


def check_transcript(stdout: str, directory: Path) -> None:
    """The [stet] lines are the announcement's, in order, and the store is its CSV."""
    lines = stet_lines(stdout)
    assert lines[:5] == [*SKIPPING, CLEARED], stdout
    assert len(lines) == 9, stdout
    assert lines[5:7] == [STORE_LINE, COUNT_LINE]
    last = LAST_RUN.fullmatch(lines[7])
    assert last, lines[7]
    assert lines[8] == KEYS_LINE

    store = directory / "_stet_store.csv"
    assert store.read_text(encoding="utf-8").splitlines()[0] == "alpha,beta,_stet_timestamp"
    df = pd.read_csv(store)
    assert list(df.columns) == ["alpha", "beta", "_stet_timestamp"]
    assert str(df["alpha"].dtype) == "float64"
    assert str(df["beta"].dtype) == "float64"
    assert df[["alpha", "beta"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]

    stamps = [dt.datetime.fromisoformat(text) for text in df["_stet_timestamp"]]
    for text in df["_stet_timestamp"]:
        assert re.fullmatch(ISO_UTC, text), text
    assert all(stamp.utcoffset() == dt.timedelta(0) for stamp in stamps)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert all(SLEEP * 0.9 <= gap <= SLEEP + 1.0 for gap in gaps), gaps
    assert last.group(1) == df["_stet_timestamp"].iloc[-1]  # status names the last record
    now = dt.datetime.now(dt.UTC)
    assert dt.timedelta(0) <= now - stamps[-1] < dt.timedelta(minutes=5)


def test_quickstart_script_prints_the_announcement(tmp_path: Path) -> None:
    result = run_python([str(QUICKSTART)], tmp_path, STET_QUICKSTART_SLEEP=str(SLEEP))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    check_transcript(result.stdout, tmp_path)
    # The first loop ran every call, the second skipped all four, the third ran again.
    walls = [line for line in result.stdout.splitlines() if line.startswith("Wall time: ")]
    assert len(walls) == 3, result.stdout
    out = result.stdout
    assert out.index(walls[0]) < out.index(SKIPPING[0]) < out.index(CLEARED)


def test_quickstart_starts_clean_when_run_again(tmp_path: Path) -> None:
    first = run_python([str(QUICKSTART)], tmp_path, STET_QUICKSTART_SLEEP="0.01")
    assert first.returncode == 0, first.stderr
    again = run_python([str(QUICKSTART)], tmp_path, STET_QUICKSTART_SLEEP=str(SLEEP))
    assert again.returncode == 0, again.stderr
    check_transcript(again.stdout, tmp_path)


def test_quickstart_leaves_another_store_alone(tmp_path: Path) -> None:
    store = tmp_path / "_stet_store.csv"
    text = "gamma,_stet_timestamp\n1,2026-03-12T11:48:59.428485+00:00\n"
    store.write_text(text, encoding="utf-8")
    result = run_python([str(QUICKSTART)], tmp_path, STET_QUICKSTART_SLEEP="0.01")
    assert result.returncode != 0
    assert "run the quickstart in another directory" in result.stderr
    assert store.read_text(encoding="utf-8") == text


# The announcement's notebook cells. Jupyter runs each cell in one process and shows the
# value of a cell's last expression.
CELLS = [
    f"""
    import numpy as np
    import stet
    import time
    import pandas as pd
    @stet.once
    def calculation(alpha, beta):
        time.sleep({SLEEP})
    """,
    """
    import itertools

    parameter_space = list(itertools.product(np.linspace(0, 1, 2), repeat=2))

    for alpha, beta in parameter_space:
        calculation(alpha, beta)
    """,
    """
    import itertools

    for alpha, beta in parameter_space:
        calculation(alpha, beta)
    """,
    "stet.reset()",
    """
    for alpha, beta in parameter_space:
        calculation(alpha, beta)
    """,
    """
    df = pd.read_csv("_stet_store.csv")
    df
    """,
    "stet.status()",
]

PLAIN_DRIVER = """
import ast, json, sys

namespace = {"__name__": "__main__"}
for cell in json.load(open(sys.argv[1])):
    tree = ast.parse(cell)
    last = tree.body[-1:] if tree.body and isinstance(tree.body[-1], ast.Expr) else []
    body = ast.Module(body=tree.body[: len(tree.body) - len(last)], type_ignores=[])
    exec(compile(body, "<cell>", "exec"), namespace)
    if last:  # "single" mode shows the value through sys.displayhook, as a notebook does
        exec(compile(ast.Interactive(body=last), "<cell>", "single"), namespace)
    print("<end of cell>", flush=True)
"""

IPYTHON_DRIVER = """
import json, sys
from IPython.testing.globalipapp import start_ipython

shell = start_ipython()
for cell in json.load(open(sys.argv[1])):
    result = shell.run_cell("%%time\\n" + cell, store_history=True)
    result.raise_error()
    print("<end of cell>", flush=True)
"""


def run_cells(
    driver: str, tmp_path: Path, cells: list[str] = CELLS
) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "cells.json"
    source.write_text(json.dumps([textwrap.dedent(cell) for cell in cells]))
    script = tmp_path / "driver.py"
    script.write_text(driver)
    work = tmp_path / "work"
    work.mkdir()
    return run_python([str(script), str(source)], work)


def check_cells(result: subprocess.CompletedProcess[str], work: Path) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    cells = result.stdout.split("<end of cell>\n")
    assert len(cells) == len(CELLS) + 1
    assert stet_lines(cells[1]) == []  # the first loop runs every call
    assert stet_lines(cells[2]) == SKIPPING
    assert stet_lines(cells[3]) == [CLEARED]
    assert stet_lines(cells[4]) == []
    assert "_stet_timestamp" in cells[5]  # the DataFrame is shown
    check_transcript(result.stdout, work)


def test_notebook_cells_in_one_interpreter(tmp_path: Path) -> None:
    result = run_cells(PLAIN_DRIVER, tmp_path)
    check_cells(result, tmp_path / "work")


def test_notebook_cells_under_ipython(tmp_path: Path) -> None:
    result = run_cells(IPYTHON_DRIVER, tmp_path)
    check_cells(result, tmp_path / "work")
    assert result.stdout.count("Wall time: ") == len(CELLS)  # %%time, as announced


def test_skip_streak_ends_with_the_cell_under_ipython(tmp_path: Path) -> None:
    """Under IPython the condensed "Skipped N more" line closes the cell that skipped."""
    cells = [
        """
        import stet

        @stet.once(skip_lines=2)
        def f(i):
            pass

        for i in range(5):
            f(i)
        """,
        """
        for i in range(5):
            f(i)
        """,
        "print('next cell')",
    ]
    result = run_cells(IPYTHON_DRIVER, tmp_path, cells)
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = result.stdout.split("<end of cell>\n")
    assert stet_lines(outputs[1]) == [
        "[stet] Skipping f(i=0)",
        "[stet] Skipping f(i=1)",
        "[stet] Skipped 3 more completed runs of f",
    ]
    assert stet_lines(outputs[2]) == []
