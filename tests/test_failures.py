"""``@stet.once(failures=...)``: failure records, retries and skips, status and reset of
failures, in every format; sweeps that record failures; a real Ctrl-C is not a failure.

A restart is a fresh interpreter running ``probes/results.py`` on the same store (modes
``record``, ``skip``, ``sweep-*`` and ``status``); executions of a body are noted in a log
file with their own writes, so a test counts them across processes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from probes import TIMEOUT, wait_until
from probes import results as results_probe
from test_results import executions, format_of, probe

import stet
from stet._admin import status_data
from stet._store import Store

FAILURE = r"(failed run|failure record)"  # how reset names one failure
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"


@pytest.fixture(autouse=True)
def _no_probe_log() -> Iterator[None]:
    yield
    results_probe.LOG[0] = None


class Flaky:
    """A body that raises ``ValueError("bad <a> #<n>")`` for the arguments in ``failing``
    (the n-th execution of all), and counts its executions."""

    def __init__(self, *failing: int) -> None:
        self.failing = set(failing)
        self.ran: list[int] = []
        self.raised: list[BaseException] = []
        self._count = itertools.count(1)

    def __call__(self, a: int) -> int:
        self.ran.append(a)
        number = next(self._count)
        if a in self.failing:
            error = ValueError(f"bad {a} #{number}")
            self.raised.append(error)
            raise error
        return a * 10


def decorate(location: str, body: Any, **options: Any) -> Any:
    """``body`` decorated as a function named ``flaky`` (one label in every test)."""

    def flaky(a: int) -> int:
        return int(body(a))

    flaky.__qualname__ = "flaky"
    return stet.once(store=location, verbose=False, **options)(flaky)


def failures_of(location: str) -> list[tuple[int, str]]:
    return [(r["a"], r["_stet_error"]) for r in stet.records(location, failed=True)]


def completed_of(location: str) -> list[int]:
    return [r["a"] for r in stet.records(location)]


# ------------------------------------------------------------- record, retry, complete


def test_a_failure_is_recorded_then_retried_then_completed(location: str) -> None:
    body = Flaky(1)
    flaky = decorate(location, body, failures="record")
    assert flaky(0) == 0
    with pytest.raises(ValueError, match=r"^bad 1 #2$") as raised:
        flaky(1)
    assert raised.value is body.raised[0]  # the very exception, unchanged
    assert failures_of(location) == [(1, "ValueError: bad 1 #2")]
    assert completed_of(location) == [0]
    (failure,) = stet.records(location, failed=True)
    assert set(failure) == {"a", "_stet_error", "_stet_timestamp"}  # no result
    stamp = failure["_stet_timestamp"]
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(stamp.tzinfo) - stamp) < timedelta(hours=1)
    data = status_data(location)
    assert (data["completed"], data["failed"]) == (1, 1)
    assert data["latest_error"] == "ValueError: bad 1 #2"
    assert data["running"] == []  # the failed run's claim is released

    with pytest.raises(ValueError, match=r"^bad 1 #3$"):  # retried on the next call
        flaky(1)
    assert body.ran == [0, 1, 1]
    assert failures_of(location) == [(1, "ValueError: bad 1 #2"), (1, "ValueError: bad 1 #3")]
    data = status_data(location)
    assert (data["completed"], data["failed"]) == (1, 1)  # one run, two failure records

    body.failing.clear()
    assert flaky(1) == 10  # it works now: completed
    assert flaky(1) is None  # and skipped from then on
    assert body.ran == [0, 1, 1, 1]
    assert completed_of(location) == [0, 1]
    data = status_data(location)
    assert (data["completed"], data["failed"], data["latest_error"]) == (2, 0, None)
    assert len(stet.records(location, failed=True)) == 2  # the history is kept


def test_failures_record_in_a_new_process_too(location: str, tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    first = probe(location, log, "record")
    assert [c.get("raised") for c in first.calls] == [
        None,
        "ValueError: bad 1",
        None,
        "ValueError: bad 3",
    ]
    again = probe(location, log, "record")  # failed runs run again; completed ones skip
    assert [c.get("raised") for c in again.calls] == [
        None,
        "ValueError: bad 1",
        None,
        "ValueError: bad 3",
    ]
    assert [c.get("got") for c in again.calls][0::2] == [["None"], ["None"]]
    assert executions(log) == ["flaky 0", "flaky 1", "flaky 2", "flaky 3", "flaky 1", "flaky 3"]
    assert failures_of(location) == [(a, f"ValueError: bad {a}") for a in (1, 3, 1, 3)]
    assert completed_of(location) == [0, 2]


def test_the_exception_propagates_unchanged(tmp_path: Path) -> None:
    class Special(Exception):
        def __init__(self, code: int) -> None:
            super().__init__(f"code {code}")
            self.code = code

    raised: list[Special] = []

    @stet.once(store=tmp_path / "runs.csv", verbose=False, failures="record")
    def job(a: int) -> None:
        error = Special(a)
        raised.append(error)
        raise error

    with pytest.raises(Special) as caught:
        job(7)
    assert caught.value is raised[0] and caught.value.code == 7
    assert caught.traceback[-1].name == "job"  # its traceback ends where it was raised
    assert failures_of(str(tmp_path / "runs.csv")) == [(7, "Special: code 7")]


def test_an_exception_whose_text_fails_still_propagates_unchanged(tmp_path: Path) -> None:
    """The call's own exception is what propagates, even when it cannot be made text;
    the run's claim is released either way."""

    class Mute(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    store = str(tmp_path / "runs.csv")

    @stet.once(store=store, verbose=False, failures="record")
    def job(a: int) -> None:
        if a:
            raise Mute()

    job(0)
    with pytest.raises(Mute):
        job(1)
    assert status_data(store)["running"] == []
    assert [r["a"] for r in stet.records(store)] == [0]


def test_error_text_keeps_any_message(location: str) -> None:
    messages = {
        1: 'a, "quoted" message\nover two lines; ü € \t tab',
        2: "",  # no message: the type alone
        3: "x" * 5000,  # cut to 1,000 characters
        4: "None",
    }

    def body(a: int) -> int:
        if a == 2:
            raise KeyError  # str(KeyError()) is ""
        if a in messages:
            raise RuntimeError(messages[a])
        return a

    flaky = decorate(location, body, failures="record")
    flaky(0)
    for a in messages:
        with pytest.raises((RuntimeError, KeyError)):
            flaky(a)
    errors = dict(failures_of(location))
    assert errors[1] == f"RuntimeError: {messages[1]}"
    assert errors[2] == "KeyError"
    assert len(errors[3]) == 1000 and errors[3] == ("RuntimeError: " + "x" * 5000)[:997] + "..."
    assert errors[4] == "RuntimeError: None"
    assert set(errors) == {1, 2, 3, 4}


def test_the_latest_error_is_the_latest_failure(location: str) -> None:
    body = Flaky(1, 3)
    flaky = decorate(location, body, failures="record")
    for a in (1, 3, 1):
        with pytest.raises(ValueError):
            flaky(a)
    data = status_data(location)
    assert data["failed"] == 2
    assert data["latest_error"] == "ValueError: bad 1 #3"  # the last failure recorded


# ------------------------------------------------------------- skip


def test_failures_skip_skips_a_failed_run_here_and_after_a_restart(
    location: str, tmp_path: Path
) -> None:
    log = tmp_path / "executions.log"
    first = probe(location, log, "skip")
    assert [c.get("raised") for c in first.calls] == [
        None,
        "ValueError: bad 1",
        None,
        "ValueError: bad 3",
    ]
    again = probe(location, log, "skip")
    assert [c["got"] for c in again.calls] == [["None"]] * 4  # nothing raised: all skipped
    assert executions(log) == ["flaky 0", "flaky 1", "flaky 2", "flaky 3"]
    assert again.stet == [
        "[stet] Skipping flaky(a=0)",
        "[stet] Skipping flaky(a=1): it failed before (ValueError: bad 1)",
        "[stet] Skipping flaky(a=2)",
        "[stet] Skipping flaky(a=3): it failed before (ValueError: bad 3)",
    ]
    assert failures_of(location) == [(1, "ValueError: bad 1"), (3, "ValueError: bad 3")]


def test_failures_skip_in_this_process(location: str, capsys: pytest.CaptureFixture[str]) -> None:
    body = Flaky(1)

    def flaky(a: int) -> int:
        return body(a)

    decorated = stet.once(store=location, failures="skip")(flaky)
    with pytest.raises(ValueError, match="bad 1 #1"):
        decorated(1)
    capsys.readouterr()
    assert decorated(1) is None
    assert capsys.readouterr().out == (
        "[stet] Skipping flaky(a=1): it failed before (ValueError: bad 1 #1)\n"
    )
    assert body.ran == [1]
    stet.reset(location, failed=True)  # cleared: the run runs again
    body.failing.clear()
    assert decorated(1) == 10
    assert body.ran == [1, 1]


def test_a_condensed_streak_counts_runs_that_failed_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "runs.csv")
    body = Flaky(*range(0, 40, 2))

    def flaky(a: int) -> int:
        return body(a)

    decorated = stet.once(store=store, failures="skip", skip_lines=2)(flaky)
    for a in range(40):
        with contextlib.suppress(ValueError):
            decorated(a)
    capsys.readouterr()
    for a in range(40):
        decorated(a)
    stet.status(store)
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        "[stet] Skipping flaky(a=0): it failed before (ValueError: bad 0 #1)",
        "[stet] Skipping flaky(a=1)",
        "[stet] Skipped 38 more runs of flaky: 19 completed, 19 failed before",
    ]
    assert "[stet] 20 failed runs not completed since (latest error: ValueError: bad 38 #39)" in out


# ------------------------------------------------------------- not failures


def test_keyboard_interrupt_and_system_exit_are_not_recorded(location: str) -> None:
    def body(a: int) -> int:
        if a == 1:
            raise KeyboardInterrupt
        if a == 2:
            raise SystemExit(3)
        return a

    flaky = decorate(location, body, failures="record")
    flaky(0)
    with pytest.raises(KeyboardInterrupt):
        flaky(1)
    with pytest.raises(SystemExit):
        flaky(2)
    assert stet.records(location, failed=True) == []
    assert status_data(location)["failed"] == 0
    assert status_data(location)["running"] == []
    assert "_stet_error" not in Store(location, "store").snapshot().header


def test_a_real_ctrl_c_is_not_recorded(tmp_path: Path) -> None:
    store = tmp_path / "runs.csv"
    started = tmp_path / "started"
    code = textwrap.dedent(
        """
        import signal, sys, time
        from pathlib import Path
        import stet

        # as under a terminal, even when the test run itself ignores SIGINT (bash's &)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        store, started = sys.argv[1], Path(sys.argv[2])

        @stet.once(store=store, verbose=False, failures="record")
        def slow(a):
            if a:
                started.write_text("go")
                while True:
                    time.sleep(0.01)
            return a

        slow(0)
        slow(1)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(store), str(started)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(started.exists)
        os.killpg(child.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
        _, err = child.communicate(timeout=TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0 and "KeyboardInterrupt" in err
    assert stet.records(store, failed=True) == []
    assert [r["a"] for r in stet.records(store)] == [0]
    assert status_data(store)["failed"] == 0


def test_without_the_option_a_failure_records_nothing(location: str) -> None:
    body = Flaky(1)
    flaky = decorate(location, body)
    flaky(0)
    before = Store(location, "store").snapshot()
    for _ in range(2):
        with pytest.raises(ValueError):
            flaky(1)
    after = Store(location, "store").snapshot()
    assert after.header == before.header == ["a", "_stet_timestamp"]
    assert after.rows == before.rows
    assert body.ran == [0, 1, 1]
    assert status_data(location)["failed"] == 0


@pytest.mark.parametrize("bad", ["bogus", "Record", True, 1, ""])
def test_an_unknown_failures_option_is_refused(bad: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"failures must be None .*'record'.*'skip'") as error:
        stet.once(store=tmp_path / "runs.csv", failures=bad)
    assert repr(bad) in str(error.value)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------- status, reset


def test_status_counts_failures(location: str, capsys: pytest.CaptureFixture[str]) -> None:
    body = Flaky(1, 3)
    flaky = decorate(location, body, failures="record", results=True)
    for a in range(4):
        with contextlib.suppress(ValueError):
            flaky(a)
    capsys.readouterr()
    stet.status(location)
    lines = capsys.readouterr().out.splitlines()
    data = status_data(location)
    name = data["store"]
    assert lines[0] == f"[stet] Store: {name}"
    assert lines[1] == "[stet] 2 completed experiments recorded"  # failures are not counted
    assert (
        lines[2] == "[stet] 2 failed runs not completed since (latest error: ValueError: bad 3 #4)"
    )
    assert re.fullmatch(rf"\[stet\] Last run: {ISO}", lines[3])
    assert lines[4:] == ["[stet] Key columns: a", "[stet] Result columns: result"]
    assert (data["completed"], data["failed"]) == (2, 2)
    assert data["latest_error"] == "ValueError: bad 3 #4"
    assert data["key_columns"] == ["a"] and data["result_columns"] == ["result"]
    assert data["functions"] == {"flaky": 2}  # completed runs only
    last_completed = max(r["_stet_timestamp"] for r in stet.records(location))
    assert data["last_run"] == lines[3].rsplit(" ", 1)[1]
    assert data["last_run"] == last_completed.isoformat(timespec="microseconds")

    body.failing.discard(3)
    assert flaky(3) == 30
    capsys.readouterr()
    stet.status(location)
    out = capsys.readouterr().out
    assert "[stet] 1 failed run not completed since (latest error: ValueError: bad 1 #2)\n" in out
    assert "[stet] 3 completed experiments recorded\n" in out


def test_reset_failed_removes_only_failure_records(location: str) -> None:
    body = Flaky(1, 3)
    flaky = decorate(location, body, failures="record")
    for a in range(5):
        with contextlib.suppress(ValueError):
            flaky(a)
    completed = stet.records(location)
    csv_before = Path(location).read_bytes() if format_of(location) == "csv" else b""
    stet.reset(location, failed=True, confirm=False)
    assert stet.records(location) == completed
    assert stet.records(location, failed=True) == []
    data = status_data(location)
    assert (data["completed"], data["failed"]) == (3, 0)
    if format_of(location) == "csv":  # completed records kept byte for byte
        kept = [line for line in csv_before.splitlines(keepends=True) if b"ValueError" not in line]
        assert Path(location).read_bytes() == b"".join(kept)
    with pytest.raises(ValueError):  # a cleared failure: the run runs again
        flaky(3)
    assert body.ran.count(3) == 2


def test_reset_failed_with_key_dict_and_through_the_function(
    location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    body = Flaky(1, 2, 3)
    flaky = decorate(location, body, failures="record")
    for a in range(5):
        with contextlib.suppress(ValueError):
            flaky(a)
    completed = stet.records(location)
    capsys.readouterr()
    stet.reset(location, {"a": 2}, failed=True, confirm=False)
    name = re.escape(status_data(location)["store"])
    said = capsys.readouterr().out
    assert re.fullmatch(rf"\[stet\] Removed 1 {FAILURE} matching a=2 from {name}\n", said), said
    assert [a for a, _ in failures_of(location)] == [1, 3]
    stet.reset(location, {"a": 0}, failed=True, confirm=False)  # completed: not a failure
    said = capsys.readouterr().out
    assert re.fullmatch(rf"\[stet\] No {FAILURE} in {name} matches a=0; nothing removed\n", said)
    assert stet.records(location) == completed
    flaky.reset({"a": "3"}, failed=True, confirm=False)  # the text the store shows
    assert [a for a, _ in failures_of(location)] == [1]
    flaky.reset(failed=True, confirm=False)
    said = capsys.readouterr().out.splitlines()[-1]
    assert re.fullmatch(rf"\[stet\] Removed 1 {FAILURE} of flaky from {name}", said), said
    assert failures_of(location) == [] and stet.records(location) == completed
    flaky.reset(failed=True, confirm=False)
    said = capsys.readouterr().out
    assert re.fullmatch(rf"\[stet\] No {FAILURE} of flaky in {name}; nothing removed\n", said)


# ------------------------------------------------------------- sweeps


def test_a_sweep_records_failures_and_status_reads_them_in_another_process(
    location: str, tmp_path: Path
) -> None:
    log = tmp_path / "executions.log"
    swept = probe(location, log, "sweep-record", 6)
    (summary,) = [c["summary"] for c in swept.calls if "summary" in c]
    assert (summary["ran"], summary["failed"], summary["failures"]) == (3, 3, 3)
    assert [a for a, _ in failures_of(location)] == [1, 3, 5]
    status = probe(location, log, "status", 6)
    progress = [line for line in status.stet if " done (" in line]
    assert len(progress) == 2  # flaky.status(grid=...) and stet.status(store, grid=...)
    for line in progress:
        assert line.startswith("[stet] 3/6 done (50.0%), 0 running, 3 failed last time"), line
    failed = [line for line in status.stet if "failed runs" in line]
    assert (
        failed == ["[stet] 3 failed runs not completed since (latest error: ValueError: bad 5)"] * 2
    )

    again = probe(location, log, "sweep-record", 6)  # record: the failed runs run again
    (summary,) = [c["summary"] for c in again.calls if "summary" in c]
    assert (summary["done_before"], summary["ran"], summary["failed"]) == (3, 0, 3)
    assert executions(log) == [f"flaky {a}" for a in [*range(6), 1, 3, 5]]


def test_a_rerun_sweep_skips_runs_that_failed_before(location: str, tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    first = probe(location, log, "sweep-skip", 6)
    (summary,) = [c["summary"] for c in first.calls if "summary" in c]
    assert (summary["ran"], summary["failed"], summary["failed_before"]) == (3, 3, 0)
    again = probe(location, log, "sweep-skip", 6)
    (summary,) = [c["summary"] for c in again.calls if "summary" in c]
    assert summary["failed_before"] == 3
    assert (summary["done_before"], summary["ran"], summary["failed"], summary["not_run"]) == (
        3,
        0,
        0,
        0,
    )
    assert len(executions(log)) == 6  # the rerun ran nothing
    said = [line for line in again.stet if line.startswith("[stet] Sweep of flaky: 3/6 done")]
    assert said and re.search(r"\b3 (skipped as )?failed before", said[-1]), again.stet
    more = probe(location, log, "sweep-skip", 8)  # a grown grid: only the new runs run
    (summary,) = [c["summary"] for c in more.calls if "summary" in c]
    assert (summary["ran"], summary["failed"], summary["failed_before"]) == (1, 1, 3)
    assert executions(log)[6:] == ["flaky 6", "flaky 7"]
