"""The benchmark scripts still run (their numbers are read by people, not asserted)."""

from __future__ import annotations

import json
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


def test_parallel_quick_partitions_the_grid_among_workers(tmp_path: Path) -> None:
    found = tmp_path / "out.json"
    out = run("parallel.py", "--quick", "--formats", "csv,sqlite", "--json", str(found))
    rows = json.loads(found.read_text(encoding="utf-8"))["rows"]
    workers, scenarios = (1, 2, 4), ("trivial", "sleep 1 ms")
    stet_rows = [r for r in rows if r["tool"] == "stet"]
    expected = {(f, "trivial", 1, False) for f in ("csv", "sqlite")}
    expected |= {(f, s, n, True) for f in ("csv", "sqlite") for s in scenarios for n in workers}
    assert {(r["format"], r["scenario"], r["workers"], r["claims"]) for r in stet_rows} == expected
    for row in stet_rows:
        assert row["samples"]
        for sample in row["samples"]:
            # every run of the grid executed by exactly one worker, recorded exactly once
            assert len(sample["executions"]) == row["workers"]
            assert sum(sample["executions"]) == row["grid"]
            assert sample["duplicates"] == sample["missing"] == 0
            assert sample["recorded"] == row["grid"] + row["workers"]  # + one warm-up each
            assert sample["second_pass"] == 0
            assert not sample["claims_left"]
            assert sample["messages"] == []
    peers = [r for r in rows if r["tool"] != "stet"]
    found_peers = {(r["tool"], r["scenario"], r["workers"]) for r in peers}
    tools = ("joblib", "diskcache", "loop")
    assert found_peers == {(t, s, n) for t in tools for s in scenarios for n in workers}
    for row in peers:
        for sample in row["samples"]:
            assert sum(sample["executions"]) == row["grid"] + sample["duplicates"]
            assert sample["missing"] == sample["second_pass"] == 0
    # the hand-written loop cannot see the other workers: every worker runs every run
    loop = next(
        r for r in peers if (r["tool"], r["scenario"], r["workers"]) == ("loop", "trivial", 4)
    )
    assert loop["samples"][0]["executions"] == [loop["grid"]] * 4
    for heading in ("Trivial body", "Claim overhead, one process", "Target", "Body sleeping"):
        assert f"### {heading}" in out
