"""The benchmark scripts still run (their numbers are read by people, not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
FORMATS = ("csv", "jsonl", "json", "sqlite", "parquet")  # what --quick measures by default


def run(script: str, *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def table_rows(out: str, heading: str) -> list[list[str]]:
    """The cells of each row of the table under ``### heading`` (not its header, nor rule)."""
    section = out.split(f"### {heading}\n", 1)[1].split("\n### ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")][2:]
    return [[cell.strip() for cell in line.strip("| ").split(" | ")] for line in lines]


def test_overhead_quick_prints_its_tables() -> None:
    out = run("overhead.py", "--quick")
    for heading in ("### stet, messages off", "### Import time", "### Targets"):
        assert heading in out
    assert "| joblib |" in out
    assert "| diskcache |" in out
    assert "`import stet` loads: neither numpy nor pandas." in out
    # every format, at each --quick size and both distributions, in the formats table
    found = {(row[0], row[1], row[2]) for row in table_rows(out, "Formats")}
    sizes, distributions = ("1,000", "10,000"), ("grid", "random")
    assert found == {(f, n, v) for f in FORMATS for n in sizes for v in distributions}
    assert {row[0] for row in table_rows(out, "Targets by format")} == set(FORMATS)


def test_lock_prints_both_locks() -> None:
    out = run("lock.py")
    assert "| stet StoreLock" in out
    assert "| filelock" in out
