"""The code the tests run in other interpreters, and the harness that starts it.

Everything a test starts as a subprocess (or a pool starts as a worker) lives in this
package, importable by a fresh interpreter: the tests put ``tests/`` on ``PYTHONPATH``
(:func:`environment`). Its modules:

``probes.identity``
    one decorated function called with pickled values: which calls ran
    (``python probes/identity.py STORE VALUES.pickle``).
``probes.results``
    results and failures across a restart (``python probes/results.py STORE LOG MODE``).
``probes.sweeps``
    decorated functions and drivers of ``stet.sweep``.
``probes.workers``
    worker bodies and drivers of the crash and concurrency tests, and the pause points
    inside stet where a thread stops.

A driver is started with ``Driver("from probes import workers; workers.<driver>(...)",
directory, *args)`` (or :func:`run`, which waits for it and fails unless it exits 0).
Each execution of a body appends one line to a log file with its own ``write``
(:func:`note`), so a test can count executions across processes.
(``tests/outside.py`` is the other harness: stet only as users reach it.)
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

# Processes a test started that wait at a gate: killed after each test (conftest.py), so
# a test that fails while one waits does not leave it running
HOLDERS: list[Driver] = []


def note(path: str, text: str) -> None:
    """Append one line to ``path`` with a single unbuffered write."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{text}\n".encode())
    finally:
        os.close(fd)


# -- the tests' side: starting drivers and reading what they leave behind

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 60  # seconds: only so that a deadlock fails a test instead of hanging CI


def environment(directory: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS, env.get("PYTHONPATH")) if p)
    env["STET_TEST_STORE"] = str(directory / "store.csv")
    env["STET_TEST_LOG"] = str(directory / "executions.log")
    return env


class Driver:
    """Python code running in a fresh interpreter, in its own session, cwd ``directory``.

    Output goes to files, not pipes, so that waiting for the process never waits for a
    child it forked (which inherits the output).
    """

    def __init__(self, code: str, directory: Path, *args: str) -> None:
        self._outputs = (_anonymous_file(), _anonymous_file())
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=directory,
            env=environment(directory),
            stdin=subprocess.DEVNULL,
            stdout=self._outputs[0],
            stderr=self._outputs[1],
            start_new_session=True,
        )
        self.pid = self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL this process (only it: a child it forked lives on)."""
        self.process.send_signal(signal.SIGKILL)

    def finish(self, timeout: float = TIMEOUT) -> tuple[int, str, str]:
        """Wait for the exit; on a timeout kill the whole session and fail."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_session()
            self.process.wait()
            raise AssertionError(
                f"still running after {timeout} s: a deadlock?\n{self.output()}"
            ) from None
        return code, *self.output_parts()

    def kill_session(self) -> None:
        """SIGKILL every process left in this driver's session (it and its children)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def output_parts(self) -> tuple[str, str]:
        out, err = (os.pread(fd, os.fstat(fd).st_size, 0) for fd in self._outputs)
        return out.decode(errors="replace"), err.decode(errors="replace")

    def __del__(self) -> None:
        for fd in self._outputs:
            os.close(fd)

    def output(self) -> str:
        out, err = self.output_parts()
        return f"--- stdout\n{out}--- stderr\n{err}"


def _anonymous_file() -> int:
    fd, name = tempfile.mkstemp(prefix="stet-test-")
    os.unlink(name)
    return fd


def run(code: str, directory: Path, *args: str, timeout: float = TIMEOUT) -> str:
    """Run ``code`` in a fresh interpreter; its standard output. Fails unless it exits 0."""
    driver = Driver(code, directory, *args)
    code_, out, _ = driver.finish(timeout)
    assert code_ == 0, f"exit code {code_}\n{driver.output()}"
    return out


def wait_until(condition: Callable[[], bool], driver: Driver | None = None) -> None:
    """Poll ``condition``; fail if ``driver`` exits first or after TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if driver is not None and not driver.running():
            raise AssertionError(f"the driver exited early\n{driver.output()}")
        if time.monotonic() > deadline:
            raise AssertionError("waited too long: a deadlock?")
        time.sleep(0.0002)


def executions(directory: Path) -> list[tuple[int, str, str]]:
    """Every execution of a worker body so far: (pid, function, argument)."""
    path = directory / "executions.log"
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        pid, function, argument = line.split()
        found.append((int(pid), function, argument))
    return found


def _cells(line: str) -> list[str]:
    rows = list(csv.reader([line], strict=True))
    assert len(rows) == 1, f"not one CSV record: {line!r}"
    return rows[0]


def read_store(path: Path, torn_tail: bool = False) -> tuple[list[str], list[dict[str, str]]]:
    """A store's header and rows, checked strictly, byte by byte.

    Every line is complete (ends in a newline), valid UTF-8 and valid CSV, has as many
    cells as the header, and ends in an ISO 8601 UTC timestamp: an interleaved or torn
    line fails here. With ``torn_tail``, bytes after the last newline are left out.
    """
    data = path.read_bytes()
    if torn_tail:
        data = data[: data.rfind(b"\n") + 1]
    assert data.endswith(b"\n"), f"{path.name} ends inside a line: {data[-120:]!r}"
    lines = data.decode("utf-8").split("\n")[:-1]
    header = _cells(lines[0])
    assert header[-1] == "_stet_timestamp", header
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = _cells(line)
        assert len(cells) == len(header), (
            f"line {number} of {path.name} has {len(cells)} cells, its header "
            f"{len(header)}: {line!r}"
        )
        row = dict(zip(header, cells, strict=True))
        stamp = datetime.fromisoformat(row["_stet_timestamp"])
        assert stamp.utcoffset() == timedelta(0), line
        rows.append(row)
    return header, rows


def cut_torn_tail(path: Path) -> bytes:
    """Remove and return the bytes after the last newline of a side file (its torn note)."""
    if not path.exists():
        return b""
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        os.truncate(path, cut)
    return data[cut:]
