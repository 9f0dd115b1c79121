"""The ``stet`` command line, run for real: ``python -m stet`` (and the installed ``stet``
script) in subprocesses, against stores of every format made by real ``@stet.once``
functions, one of them written by another process while the commands read it.

What a command prints is checked against the Python API it mirrors (``stet.status``,
``stet.records``), and line for line where the text is stable. Exit codes: 0 success, 1
a user error (one line ``stet: error: ...`` on standard error, never a traceback), 2 a
usage error, 130 on Ctrl-C, 141 when standard output closes early.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
from formats import FORMATS
from probes import HOLDERS, TIMEOUT, Driver, wait_until

import stet
from stet.formats import redacted

ROOT = Path(__file__).resolve().parents[1]
STET_SCRIPT = Path(sys.executable).parent / "stet"
ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00"

GRID = [(alpha, seed) for alpha in (0.1, 0.2, 0.3) for seed in (0, 1)]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test works in its own directory; the commands run there too."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=FORMATS)
def location(request: pytest.FixtureRequest) -> str:
    """A new store of each format: a relative file name, or a PostgreSQL URL."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_store"))
    return f"runs.{request.param}"


def cli(*args: str, stdin: str = "", script: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``python -m stet ARGS`` (or the ``stet`` script) here; standard input ``stdin``."""
    command = [str(STET_SCRIPT)] if script else [sys.executable, "-m", "stet"]
    return subprocess.run(
        [*command, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def succeeded(done: subprocess.CompletedProcess[str]) -> str:
    """The standard output of a command that must exit 0 and print nothing on stderr."""
    assert done.returncode == 0, f"exit code {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.stderr == "", done.stderr
    return done.stdout


def user_error(done: subprocess.CompletedProcess[str]) -> str:
    """The message of a command that must fail with exit 1 and one ``stet: error:`` line."""
    assert done.returncode == 1, f"exit code {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and done.stderr.endswith("\n"), done.stderr
    assert lines[0].startswith("stet: error: "), lines[0]
    return lines[0].removeprefix("stet: error: ")


def usage_error(done: subprocess.CompletedProcess[str]) -> str:
    """The standard error of a command that must fail with argparse's exit 2."""
    assert done.returncode == 2, f"exit code {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.stdout == ""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("usage: stet"), done.stderr
    return done.stderr


# -- the functions whose runs fill the stores (module level: their names are plain)


def experiment(alpha: float, seed: int) -> float:
    return alpha * 10 + seed


def other(n: int) -> int:
    return n


def flaky(alpha: float, seed: int) -> float:
    if seed == 1:
        raise ValueError(f"bad seed for alpha={alpha}")
    return alpha


def scored(alpha: float, seed: int) -> dict[str, Any]:
    return {"loss": alpha * 10 + seed, "label": f"a{alpha}"}


def fill(location: str, function: Any = experiment, **options: Any) -> Any:
    """Run ``function`` over GRID into ``location`` in this process; the decorated function."""
    decorated = stet.once(store=location, verbose=False, **options)(function)
    for alpha, seed in GRID:
        decorated(alpha, seed)
    return decorated


def status_lines(location: str, capsys: pytest.CaptureFixture[str], **options: Any) -> str:
    """What ``stet.status`` prints in this process."""
    capsys.readouterr()
    stet.status(location, **options)
    return capsys.readouterr().out


def table(text: str) -> list[list[str]]:
    """The rows of ``stet show``'s table, split where two spaces part its cells (a cell of
    these tests holds no two spaces in a row, and none is blank)."""
    return [re.split(r" {2,}", line.strip()) for line in text.splitlines()]


# -- status


def test_status_prints_the_lines_of_stet_status(
    location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(location)
    out = succeeded(cli("status", location))
    assert out == status_lines(location, capsys)
    lines = out.splitlines()
    assert lines[0] == f"[stet] Store: {redacted(location)}"
    assert "[stet] 6 completed experiments recorded" in lines
    assert "[stet] Key columns: alpha, seed" in lines
    (last,) = [line for line in lines if line.startswith("[stet] Last run: ")]
    assert re.fullmatch(rf"\[stet\] Last run: {ISO}", last), last
    assert not any("running now" in line for line in lines)
    password = urlsplit(location).password
    assert password is None or password not in out


def test_status_json_holds_the_same_numbers(location: str) -> None:
    fill(location)
    data = json.loads(succeeded(cli("status", location, "--json")))
    records = stet.records(location)
    assert data["store"] == redacted(location)
    assert data["completed"] == len(records) == 6
    assert data["failed"] == 0
    assert data["running"] == []
    assert data["key_columns"] == ["alpha", "seed"]
    assert data["result_columns"] == []
    assert data["functions"] == {"experiment": 6}
    newest = max(record["_stet_timestamp"] for record in records)
    assert datetime.fromisoformat(data["last_run"]) == newest


def test_status_of_a_store_of_two_functions(capsys: pytest.CaptureFixture[str]) -> None:
    fill("runs.csv")
    counted = stet.once(store="runs.csv", verbose=False)(other)
    counted(1)
    counted(2)
    out = succeeded(cli("status", "runs.csv"))
    assert out == status_lines("runs.csv", capsys)
    assert "[stet] 8 completed experiments recorded" in out.splitlines()
    assert "[stet] Functions: experiment (6), other (2)" in out.splitlines()
    only = succeeded(cli("status", "runs.csv", "--function", "other"))
    assert only == status_lines("runs.csv", capsys, function="other")
    assert "[stet] 2 completed experiments of other recorded" in only.splitlines()
    data = json.loads(succeeded(cli("status", "runs.csv", "--json")))
    assert data["completed"] == 8 and data["functions"] == {"experiment": 6, "other": 2}
    data = json.loads(succeeded(cli("status", "runs.csv", "--json", "--function", "other")))
    assert data["completed"] == 2


def test_status_and_show_name_result_columns() -> None:
    fill("runs.csv", scored, results=True)
    data = json.loads(succeeded(cli("status", "runs.csv", "--json")))
    assert data["key_columns"] == ["alpha", "seed"]
    assert data["result_columns"] == ["result.loss", "result.label"]
    text = succeeded(cli("status", "runs.csv"))
    assert "[stet] Result columns: result.loss, result.label" in text.splitlines()
    rows = table(succeeded(cli("show", "runs.csv")))
    header = rows[0]
    assert header == ["alpha", "seed", "result.loss", "result.label", "_stet_timestamp"]
    shown = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    assert [(r["alpha"], r["seed"], r["result.loss"], r["result.label"]) for r in shown] == [
        (repr(a), repr(s), repr(a * 10 + s), f"a{a}") for a, s in GRID
    ]


# -- show


def test_show_prints_every_record_as_the_api_reads_it(location: str) -> None:
    fill(location)
    out = succeeded(cli("show", location))
    rows = table(out)
    assert rows[0] == ["alpha", "seed", "_stet_timestamp"]
    stamps = [
        r["_stet_timestamp"].isoformat(timespec="microseconds") for r in stet.records(location)
    ]
    assert rows[1:] == [[repr(a), repr(s), t] for (a, s), t in zip(GRID, stamps, strict=True)]
    # aligned: every line's timestamp starts where the header's column does
    lines = out.splitlines()
    start = lines[0].index("_stet_timestamp")
    assert all(re.fullmatch(ISO, line[start:]) for line in lines[1:]), out


def test_show_renders_cells_as_the_csv_holds_them() -> None:
    """A hand-written store: each cell comes back as its CSV text; a lacking one is blank."""
    Path("runs.csv").write_text(
        "alpha,label,flag,shape,note,_stet_timestamp\n"
        '0.1,abc,True,"(1, 2)",None,2024-05-01T10:00:00.000000+00:00\n'
        "0.25,'None',False,\"(3,)\",,2024-05-01T10:00:01.500000+00:00\n"
        "10,x y,None,(),'',2024-05-01T10:00:02.000000+00:00\n"
    )
    assert succeeded(cli("show", "runs.csv")).splitlines() == [
        "alpha  label   flag   shape   note  _stet_timestamp",
        "  0.1  abc     True   (1, 2)  None  2024-05-01T10:00:00.000000+00:00",
        " 0.25  'None'  False  (3,)          2024-05-01T10:00:01.500000+00:00",
        "   10  x y     None   ()      ''    2024-05-01T10:00:02.000000+00:00",
    ]
    assert succeeded(cli("show", "runs.csv", "--where", "flag=True")).splitlines() == [
        "alpha  label  flag  shape   note  _stet_timestamp",
        "  0.1  abc    True  (1, 2)  None  2024-05-01T10:00:00.000000+00:00",
    ]
    # "the text the store shows": 'None' is the string, None the value
    out = succeeded(cli("show", "runs.csv", "--where", "label='None'"))
    assert [row[:2] for row in table(out)[1:]] == [["0.25", "'None'"]]
    out = succeeded(cli("show", "runs.csv", "--where", "flag=None"))
    assert [row[0] for row in table(out)[1:]] == ["10"]


def test_show_where_and_last(location: str) -> None:
    decorated = stet.once(store=location, verbose=False)(experiment)
    for i in range(25):
        decorated(i / 10, i % 3)
    rows = table(succeeded(cli("show", location)))
    assert rows[0] == ["alpha", "seed", "_stet_timestamp"]
    assert [row[0] for row in rows[1:-1]] == [repr(i / 10) for i in range(5, 25)]
    assert rows[-1] == ["(last 20 of 25 records; --last 0 shows all)"]
    rows = table(succeeded(cli("show", location, "--last", "3")))
    assert [row[0] for row in rows[1:-1]] == ["2.2", "2.3", "2.4"]
    assert rows[-1] == ["(last 3 of 25 records; --last 0 shows all)"]
    rows = table(succeeded(cli("show", location, "--last", "0")))
    assert [row[0] for row in rows[1:]] == [repr(i / 10) for i in range(25)]
    rows = table(succeeded(cli("show", location, "--where", "seed=2", "--last", "0")))
    assert [row[:2] for row in rows[1:]] == [[repr(i / 10), "2"] for i in range(2, 25, 3)]
    rows = table(succeeded(cli("show", location, "--where", "seed=1", "--where", "alpha=0.4")))
    assert [row[:2] for row in rows[1:]] == [["0.4", "1"]]
    assert (
        succeeded(cli("show", location, "--where", "alpha=0.4", "--where", "seed=2"))
        == f"No completed runs in {redacted(location)} match alpha=0.4, seed=2\n"
    )


def test_show_of_a_store_of_two_functions() -> None:
    fill("runs.csv")
    counted = stet.once(store="runs.csv", verbose=False)(other)
    counted(7)
    rows = table(succeeded(cli("show", "runs.csv", "--function", "other")))
    assert rows == [["n", "_stet_timestamp"], ["7", rows[1][1]]]  # one function: no label
    rows = table(succeeded(cli("show", "runs.csv", "--last", "0")))
    assert "_stet_function" in rows[0] and len(rows) == 1 + 7


# -- failures


def test_failures_are_shown_counted_and_reset_alone(location: str) -> None:
    decorated = stet.once(store=location, verbose=False, failures="record")(flaky)
    for alpha, seed in GRID:
        if seed == 1:
            with pytest.raises(ValueError, match="bad seed"):
                decorated(alpha, seed)
        else:
            assert decorated(alpha, seed) == alpha
    data = json.loads(succeeded(cli("status", location, "--json")))
    assert (data["completed"], data["failed"]) == (3, 3)
    lines = succeeded(cli("status", location)).splitlines()
    assert any(line.startswith("[stet] 3 failed runs ") for line in lines), lines

    header, *rows = table(succeeded(cli("show", location, "--failed")))
    assert header[:2] == ["alpha", "seed"]
    assert sorted(header[2:]) == ["_stet_error", "_stet_timestamp"]
    failures = [dict(zip(header, row, strict=True)) for row in rows]
    assert [(f["alpha"], f["seed"], f["_stet_error"]) for f in failures] == [
        (repr(alpha), "1", f"ValueError: bad seed for alpha={alpha}") for alpha in (0.1, 0.2, 0.3)
    ]
    assert all(re.fullmatch(ISO, f["_stet_timestamp"]) for f in failures)
    completed = table(succeeded(cli("show", location)))
    assert [row[:2] for row in completed[1:]] == [["0.1", "0"], ["0.2", "0"], ["0.3", "0"]]

    succeeded(cli("reset", location, "--failed", "--yes"))
    assert stet.records(location, failed=True) == []
    assert [(r["alpha"], r["seed"]) for r in stet.records(location)] == [
        (0.1, 0),
        (0.2, 0),
        (0.3, 0),
    ]
    assert (
        succeeded(cli("show", location, "--failed"))
        == f"No failed runs recorded in {redacted(location)}\n"
    )
    data = json.loads(succeeded(cli("status", location, "--json")))
    assert (data["completed"], data["failed"]) == (3, 0)


# -- reset


def test_reset_yes_removes_the_matching_runs(location: str) -> None:
    fill(location)
    out = succeeded(cli("reset", location, "--where", "alpha=0.2", "--yes"))
    assert out == f"[stet] Removed 2 runs matching alpha=0.2 from {redacted(location)}\n"
    assert [(r["alpha"], r["seed"]) for r in stet.records(location)] == [
        (a, s) for a, s in GRID if a != 0.2
    ]
    out = succeeded(cli("reset", location, "--where", "alpha=0.1", "--where", "seed=1", "--yes"))
    assert out == f"[stet] Removed 1 run matching alpha=0.1, seed=1 from {redacted(location)}\n"
    assert len(stet.records(location)) == 3


def test_reset_asks_and_an_answer_n_changes_nothing() -> None:
    fill("runs.csv")
    done = cli("reset", "runs.csv", "--where", "seed=1", stdin="n\n")
    out = succeeded(done)
    assert out == (
        "[stet] Remove 3 runs matching seed=1 from runs.csv? [y/N] [stet] Nothing changed\n"
    )
    assert len(stet.records("runs.csv")) == 6


def test_reset_asks_and_an_answer_y_removes() -> None:
    fill("runs.csv")
    out = succeeded(cli("reset", "runs.csv", "--where", "seed=1", stdin="y\n"))
    assert out == (
        "[stet] Remove 3 runs matching seed=1 from runs.csv? [y/N] "
        "[stet] Removed 3 runs matching seed=1 from runs.csv\n"
    )
    assert [r["seed"] for r in stet.records("runs.csv")] == [0, 0, 0]
    out = succeeded(cli("reset", "runs.csv", stdin="yes\n"))
    assert out == ("[stet] Clear all 3 runs from runs.csv? [y/N] [stet] Store cleared: runs.csv\n")
    assert not Path("runs.csv").exists()  # issue 13: a full reset removes the store


def test_reset_without_an_answer_is_an_error_and_changes_nothing() -> None:
    fill("runs.csv")
    done = cli("reset", "runs.csv")  # standard input ends at once
    message = user_error(done)
    assert message == (
        "no answer on standard input; nothing changed (pass --yes to reset without asking)"
    )
    assert done.stdout == "[stet] Clear all 6 runs from runs.csv? [y/N] \n"
    assert len(stet.records("runs.csv")) == 6


def test_reset_of_one_function() -> None:
    fill("runs.csv")
    counted = stet.once(store="runs.csv", verbose=False)(other)
    counted(1)
    counted(2)
    out = succeeded(cli("reset", "runs.csv", "--function", "other", "--yes"))
    assert out == "[stet] Cleared 2 runs of other from runs.csv\n"
    assert len(stet.records("runs.csv")) == 6
    assert stet.records("runs.csv", function="other") == []


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_at_the_question_exits_130_quietly(tmp_path: Path) -> None:
    fill("runs.csv")
    out_path, error_path = tmp_path / "out.txt", tmp_path / "error.txt"
    with (
        out_path.open("w") as out,
        error_path.open("w") as error,
        subprocess.Popen(
            [sys.executable, "-m", "stet", "reset", "runs.csv"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=error,
            # as from a terminal: a test run started in the background (bash's `&`)
            # would hand the child an ignored SIGINT, which Python then keeps ignoring
            preexec_fn=_default_sigint,
        ) as process,
    ):

        def waiting_for_an_answer() -> bool:
            """The question is out and the process sleeps in its read of standard input
            (a SIGINT just before that read would only be seen by the next one)."""
            if process.poll() is not None:
                return True
            asked = out_path.read_text().endswith("[y/N] ")
            return asked and psutil.Process(process.pid).status() == psutil.STATUS_SLEEPING

        wait_until(waiting_for_an_answer)
        process.send_signal(signal.SIGINT)  # as Ctrl-C does
        code = process.wait(TIMEOUT)
    assert code == 130, (code, error_path.read_text())
    assert error_path.read_text() == ""
    assert out_path.read_text() == "[stet] Clear all 6 runs from runs.csv? [y/N] "
    assert len(stet.records("runs.csv")) == 6


# -- convert


def test_convert_copies_every_record() -> None:
    fill("runs.csv")
    out = succeeded(cli("convert", "runs.csv", "runs.jsonl"))
    assert out == "[stet] Converted 6 records from runs.csv to runs.jsonl\n"
    assert stet.records("runs.jsonl") == stet.records("runs.csv")
    assert succeeded(cli("show", "runs.jsonl")) == succeeded(cli("show", "runs.csv"))


def test_convert_refuses_an_existing_destination() -> None:
    fill("runs.csv")
    Path("runs.jsonl").write_text("keep me\n")
    message = user_error(cli("convert", "runs.csv", "runs.jsonl"))
    assert "runs.jsonl already exists" in message, message
    assert not message.startswith("stet.convert"), message
    assert Path("runs.jsonl").read_text() == "keep me\n"


def test_convert_of_a_missing_source() -> None:
    assert user_error(cli("convert", "nothing.csv", "runs.jsonl")) == "no stet store at nothing.csv"
    assert not Path("runs.jsonl").exists()


# -- user errors: exit 1, one line


@pytest.mark.parametrize(
    "args",
    [
        ("status", "runs.csv"),
        ("status", "runs.csv", "--json"),
        ("show", "runs.csv"),
        ("reset", "runs.csv", "--where", "alpha=0.1", "--yes"),
    ],
)
def test_a_missing_store_is_one_line(args: tuple[str, ...]) -> None:
    done = cli(*args)
    assert user_error(done) == "no stet store at runs.csv"
    assert done.stdout == ""


def test_the_default_store_is_the_one_in_the_working_directory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert user_error(cli("status")) == f"no stet store at {stet.DEFAULT_STORE}"
    fill(stet.DEFAULT_STORE)
    assert succeeded(cli("status")) == status_lines(stet.DEFAULT_STORE, capsys)
    assert len(table(succeeded(cli("show")))) == 1 + 6


@pytest.mark.parametrize("command", ["show", "reset"])
def test_an_unknown_where_column_names_the_columns(command: str) -> None:
    fill("runs.csv")
    extra = ("--yes",) if command == "reset" else ()
    done = cli(command, "runs.csv", "--where", "beta=1", *extra)
    message = user_error(done)
    assert "'beta'" in message and "alpha, seed" in message, message
    assert len(stet.records("runs.csv")) == 6


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("runs.csv", "alpha,seed\n0.1,0\n", "runs.csv is not a stet store"),
        ("runs.csv", "alpha,alpha,_stet_timestamp\n", "runs.csv is damaged"),
        (
            "runs.csv",
            "alpha,_stet_timestamp\n0.1,2024-01-01T00:00:00+00:00\n0.2\n",
            "runs.csv is damaged: line 3",
        ),
        (
            "runs.jsonl",
            '{"alpha": 0.1, "_stet_timestamp": "2024-01-01T00:00:00+00:00"}\nnot json\n',
            "runs.jsonl is damaged: line 2",
        ),
        ("runs.sqlite", "not a database\n" * 200, "runs.sqlite"),
        ("runs.txt", "alpha,_stet_timestamp\n", "extension .txt"),
    ],
)
@pytest.mark.parametrize("command", ["status", "show"])
def test_a_damaged_store_is_one_line(command: str, name: str, content: str, expected: str) -> None:
    Path(name).write_text(content)
    done = cli(command, name)
    assert expected in user_error(done)
    assert done.stdout == ""
    assert Path(name).read_text() == content


def test_a_store_url_of_an_unknown_kind_is_one_line() -> None:
    message = user_error(cli("status", "mysql://someone@localhost/db"))
    assert "mysql://" in message and "postgresql://" in message


def test_an_unreachable_server_is_one_line() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = cli("status", f"postgresql://stet:secret@127.0.0.1:{port}/stet")
    message = user_error(done)
    assert "127.0.0.1" in message and "secret" not in done.stderr


def test_a_missing_postgres_table_is_one_line(postgres_store: str) -> None:
    done = cli("status", postgres_store)
    message = user_error(done)
    assert message.startswith(f"no stet store at {redacted(postgres_store)}"), message
    password = urlsplit(postgres_store).password
    assert password and password not in done.stderr


# -- usage errors: exit 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        (("show", "--where", "alpha"), "expected COL=VALUE"),
        (("reset", "--where", "=0.1", "--yes"), "expected COL=VALUE"),
        (("show", "--where", "a=1", "--where", "a=2"), "a is given twice"),
        (("show", "--last", "-1"), "argument --last"),
        (("show", "--last", "many"), "argument --last"),
        (("status", "--bogus"), "unrecognized arguments: --bogus"),
        (("convert", "runs.csv"), "the following arguments are required: DST"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], expected: str) -> None:
    Path("runs.csv").write_text("alpha,_stet_timestamp\n0.1,2024-01-01T00:00:00+00:00\n")
    assert expected in usage_error(cli(*args))
    assert Path("runs.csv").read_text().count("\n") == 2


def test_version_and_help() -> None:
    assert succeeded(cli("--version")) == f"stet {stet.__version__}\n"
    for command in ("status", "show", "reset", "convert"):
        assert succeeded(cli(command, "--help")).startswith(f"usage: stet {command}")
    assert "status" in succeeded(cli("--help"))


def test_main_returns_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    from stet.cli import main

    assert main(["--version"]) == 0
    assert main(["frobnicate"]) == 2
    assert main(["status", "nothing.csv"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == "stet: error: no stet store at nothing.csv"


def test_import_stays_light() -> None:
    code = "import sys, stet.cli; print(sorted({'pandas', 'numpy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"


def test_a_closed_pipe_ends_show_quietly() -> None:
    rows = "".join(f"{i},2024-01-01T00:00:00.000000+00:00\n" for i in range(20_000))
    Path("runs.csv").write_text("i,_stet_timestamp\n" + rows)
    with subprocess.Popen(
        [sys.executable, "-m", "stet", "show", "runs.csv", "--last", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().split() == [b"i", b"_stet_timestamp"]
        process.stdout.close()  # like `stet show | head -1`
        error = process.stderr.read()
        code = process.wait(TIMEOUT)
    assert code == 141, (code, error)
    assert error == b""


def test_the_console_script_runs_the_same_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert STET_SCRIPT.exists(), (
        f"no {STET_SCRIPT}: the [project.scripts] entry is missing; pip install -e ."
    )
    fill("runs.csv")
    assert succeeded(cli("--version", script=True)) == f"stet {stet.__version__}\n"
    assert succeeded(cli("status", "runs.csv", script=True)) == status_lines("runs.csv", capsys)
    assert succeeded(cli("show", "runs.csv", script=True)) == succeeded(cli("show", "runs.csv"))
    assert user_error(cli("show", "nothing.csv", script=True)) == "no stet store at nothing.csv"
    assert "expected COL=VALUE" in usage_error(cli("reset", "--where", "x", script=True))


# -- reading while another process writes


WRITER = """
    import os, sys, time
    import stet

    store, ready, gate, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    @stet.once(store=store, verbose=False)
    def step(i):
        if i == count // 2:  # the test reads the store here, while this run runs
            while not os.path.exists(gate):
                time.sleep(0.005)
        time.sleep(0.001)
        return i

    step(0)
    open(ready, "w").close()
    stet.sweep(step, {"i": range(count)}, progress=False)
"""


@pytest.mark.parametrize("kind", FORMATS)
def test_status_and_show_while_a_sweep_writes(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Every call exits 0 and counts never go down; at the end the count is the grid's."""
    count = 600
    location = (
        str(request.getfixturevalue("postgres_store")) if kind == "postgresql" else f"runs.{kind}"
    )
    ready, gate = tmp_path / "ready", tmp_path / "gate"
    writer = Driver(textwrap.dedent(WRITER), tmp_path, location, str(ready), str(gate), str(count))
    HOLDERS.append(writer)
    wait_until(ready.exists, writer)
    seen = [0]
    at_gate = 0

    def look() -> int:
        """One ``status --json`` and one ``show``; the count they agree on at least."""
        data = json.loads(succeeded(cli("status", location, "--json")))
        assert data["completed"] >= seen[-1], (data, seen)
        seen.append(data["completed"])
        rows = succeeded(cli("show", location, "--last", "5")).splitlines()
        assert rows[0].split() == ["i", "_stet_timestamp"]
        footer = re.fullmatch(r"\(last 5 of ([\d,]+) records; --last 0 shows all\)", rows[-1])
        shown = int(footer[1].replace(",", "")) if footer else len(rows) - 1
        assert shown >= seen[-1], (rows, seen)
        seen.append(shown)
        return int(data["completed"])

    deadline = time.monotonic() + TIMEOUT
    while at_gate < 2:  # the writer waits at run count // 2 until the gate opens
        if look() == count // 2:
            at_gate += 1
            data = json.loads(succeeded(cli("status", location, "--json")))
            running = [(claim["function"], claim["pid"]) for claim in data["running"]]
            assert running == [("step", writer.pid)], data
            text = succeeded(cli("status", location))
            assert f"[stet] 1 running now: {socket.gethostname()} (pid {writer.pid})" in text
        assert writer.running(), writer.output()
        assert time.monotonic() < deadline, f"the writer never reached run {count // 2}"
    gate.touch()
    while writer.running():
        look()
    code, _, _ = writer.finish()
    assert code == 0, writer.output()
    assert look() == count
    data = json.loads(succeeded(cli("status", location, "--json")))
    assert (data["completed"], data["failed"], data["running"]) == (count, 0, [])
    rows = table(succeeded(cli("show", location, "--last", "0")))
    assert [int(row[0]) for row in rows[1:]] == list(range(count))


# -- the reference page

RENDER = "import runpy, sys; sys.stdout.write(runpy.run_path(sys.argv[1])['render']())"


def test_the_reference_page_is_generated_from_the_parser() -> None:
    # rendered in a fresh interpreter: a format a test registered (tsvformat) is in this
    # process's registry, and so in its CLI help, but not in a user's
    rendered = subprocess.run(
        [sys.executable, "-c", RENDER, str(ROOT / "scripts/cli_reference.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    page = (ROOT / "docs/reference/cli.md").read_text(encoding="utf-8")
    assert page == rendered, "run python scripts/cli_reference.py"
    for command in ("status", "show", "reset", "convert"):
        assert f"## stet {command}\n" in page
    assert "`--where COL=VALUE ...`" in page and "`--yes`" in page


def test_commands_keep_the_environment_clean() -> None:
    """A command never leaves files behind in the working directory it reads."""
    fill("runs.csv")
    before = sorted(os.listdir("."))
    succeeded(cli("status", "runs.csv"))
    succeeded(cli("show", "runs.csv"))
    user_error(cli("show", "nothing.csv"))
    assert sorted(os.listdir(".")) == before
