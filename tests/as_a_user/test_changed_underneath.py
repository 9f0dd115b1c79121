"""A store changed underneath a running script: reset, removed, appended to or rewritten
by another process while the script keeps calling its decorated function.

The script is a real long-running interpreter that takes one statement per line on its
standard input, as a notebook takes cells; the changes come from other processes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import outside
import pytest

import stet
from stet._columns import LOOK_EVERY

FORMATS = ["csv", "jsonl", "json", "sqlite", "parquet", "postgresql"]

SCRIPT = textwrap.dedent(
    """
    import sys, stet
    @stet.once(store=sys.argv[1])
    def f(n):
        print("ran", n, flush=True)
    for line in sys.stdin:
        exec(line)
        print("--", flush=True)
    """
)


class Session:
    """The running script: ``do`` sends one statement and returns what it printed."""

    def __init__(self, store: str, cwd: Path) -> None:
        (cwd / "session.py").write_text(SCRIPT)
        self.process = subprocess.Popen(
            [sys.executable, "session.py", store],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def do(self, statement: str) -> list[str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(statement + "\n")
        self.process.stdin.flush()
        printed = []
        while (line := self.process.stdout.readline()) not in ("--\n", ""):
            printed.append(line.rstrip("\n"))
        assert line, f"the script ended: {printed}"
        return printed

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=60) == 0


@pytest.fixture(params=FORMATS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_store"))
    return f"runs.{request.param}"


def other_process(code: str, cwd: Path) -> None:
    done = outside.run([sys.executable, "-c", code], cwd)
    assert done.returncode == 0, done.stdout + done.stderr


def past_the_look() -> None:
    """Let a running process's index age past LOOK_EVERY, after which it looks again."""
    time.sleep(LOOK_EVERY * 1.5)


def test_a_reset_by_another_process_is_seen(store: str, tmp_path: Path) -> None:
    session = Session(store, tmp_path)
    try:
        assert session.do("f(1)") == ["ran 1"]
        assert session.do("f(1)") == ["[stet] Skipping f(n=1)"]
        other_process(f"import stet; stet.reset({store!r})", tmp_path)
        past_the_look()
        assert session.do("f(1)") == ["ran 1"]  # no false skip on a forgotten record
    finally:
        session.close()
    assert [r["n"] for r in stet.records(_where(store, tmp_path))] == [1]


def test_a_partial_reset_by_another_process_is_seen(store: str, tmp_path: Path) -> None:
    session = Session(store, tmp_path)
    try:
        assert session.do("f(1); f(2)") == ["ran 1", "ran 2"]
        other_process(f"import stet; stet.reset({store!r}, {{'n': 1}})", tmp_path)
        past_the_look()
        assert session.do("f(2)") == ["[stet] Skipping f(n=2)"]
        assert session.do("f(1)") == ["ran 1"]
    finally:
        session.close()
    assert sorted(r["n"] for r in stet.records(_where(store, tmp_path))) == [1, 2]


def test_records_appended_by_another_process_are_skipped(store: str, tmp_path: Path) -> None:
    session = Session(store, tmp_path)
    try:
        assert session.do("f(1)") == ["ran 1"]
        other_process(
            f"import stet\n@stet.once(store={store!r})\n"
            "def f(n):\n    print('ran', n, flush=True)\nf(2); f(3)",
            tmp_path,
        )
        assert session.do("f(2); f(3)") == ["[stet] Skipping f(n=2)", "[stet] Skipping f(n=3)"]
    finally:
        session.close()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "sqlite", "parquet"])
def test_a_removed_store_file_starts_again_and_opens(fmt: str, tmp_path: Path) -> None:
    store = f"runs.{fmt}"
    session = Session(store, tmp_path)
    try:
        assert session.do("f(1); f(2)") == ["ran 1", "ran 2"]
        path = tmp_path / store
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        past_the_look()
        assert session.do("f(2)") == ["ran 2"]
        assert session.do("f(2)") == ["[stet] Skipping f(n=2)"]
    finally:
        session.close()
    assert [r["n"] for r in stet.records(str(path))] == [2]
    shown = outside.run_cli(["status", store], tmp_path)
    assert shown.returncode == 0 and "1 completed experiment" in shown.stdout, shown


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_a_hand_edit_appending_a_record_is_read(fmt: str, tmp_path: Path) -> None:
    """A record added by hand (another program, an editor) while the script runs."""
    store = f"runs.{fmt}"
    session = Session(store, tmp_path)
    try:
        assert session.do("f(1)") == ["ran 1"]
        other_process(
            "import stet\n"
            f"stet.convert({store!r}, 'copy.csv')\n"
            "lines = open('copy.csv').read().splitlines()\n"
            "lines.append(lines[1].replace('1', '7', 1))\n"
            "open('copy.csv', 'w').write('\\n'.join(lines) + '\\n')\n"
            f"import os; os.remove({store!r})\n"
            f"stet.convert('copy.csv', {store!r})",
            tmp_path,
        )
        past_the_look()
        assert session.do("f(7)") == ["[stet] Skipping f(n=7)"]
        assert session.do("f(8)") == ["ran 8"]
    finally:
        session.close()
    assert sorted(r["n"] for r in stet.records(str(tmp_path / store))) == [1, 7, 8]


def _where(store: str, tmp_path: Path) -> str:
    return store if "://" in store else str(tmp_path / store)
