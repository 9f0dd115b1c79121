"""The benchmark scripts still run (their numbers are read by people, not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_overhead_quick_prints_its_tables() -> None:
    out = run("overhead.py", "--quick")
    for heading in ("### stet, messages off", "### Import time", "### Targets"):
        assert heading in out
    assert "| joblib |" in out
    assert "| diskcache |" in out
    assert "`import stet` loads: neither numpy nor pandas." in out


def test_lock_prints_both_locks() -> None:
    out = run("lock.py")
    assert "| stet StoreLock" in out
    assert "| filelock" in out
