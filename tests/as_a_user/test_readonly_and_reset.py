"""Read-only stores, full resets and a closed standard input, as users meet them.

A store of mode 444 in a directory of mode 555 is read by a user whom permissions apply
to (``unprivileged=True``); a full reset is checked by listing the directory before the
first run and after the reset, alone and with a second process that has the store open.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import outside
import pytest
from formats import FILE_FORMATS

MAKE = """
import stet

@stet.once(store="runs/s.{ext}")
def f(n):
    return n

f(1)
f(2)
"""

READ = """
import json, sys
import stet

store = "runs/s.{ext}"

@stet.once(store=store)
def f(n):
    print("BODY RAN", n)
    return n

stet.status(store)
f.status()
print("records", json.dumps([r["n"] for r in stet.records(store)]))
print("load", stet.load(store)["n"].tolist())
stet.convert(store, sys.argv[1])
f(1)
print("skipped f(1)")
"""


def listing(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and directory under ``directory``: its mode, size (files) and mtime."""
    found = {}
    for path in sorted(directory.rglob("*")):
        st = path.lstat()
        size = 0 if path.is_dir() else st.st_size
        found[str(path.relative_to(directory))] = (st.st_mode, size, st.st_mtime_ns)
    return found


def make_read_only(directory: Path) -> None:
    """Files 444, directories 555, the directory itself included."""
    for path in sorted(directory.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    directory.chmod(0o555)


@pytest.fixture
def restore(tmp_path: Path) -> Iterator[None]:
    """Give the test's directories back their write permission, for the clean-up."""
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


def made(ext: str, cwd: Path) -> Path:
    done = outside.run_script(MAKE.format(ext=ext), cwd, name="make.py")
    assert done.returncode == 0, done.stderr
    return cwd / "runs"


# ------------------------------------------------------------------ read-only stores


@pytest.mark.parametrize("ext", FILE_FORMATS)
def test_every_read_path_works_on_a_read_only_store_and_creates_nothing(
    tmp_path: Path, ext: str, restore: None
) -> None:
    runs = made(ext, tmp_path)
    make_read_only(runs)
    before = listing(runs)
    out = tmp_path / "out"
    out.mkdir()
    name = f"runs/s.{ext}"

    status = outside.run_cli(["status", name], tmp_path, unprivileged=True)
    assert status.returncode == 0, status.stderr
    assert "[stet] 2 completed experiments recorded" in status.stdout
    as_json = outside.run_cli(["status", name, "--json"], tmp_path, unprivileged=True)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["completed"] == 2
    show = outside.run_cli(["show", name], tmp_path, unprivileged=True)
    assert show.returncode == 0, show.stderr
    assert [line.split()[0] for line in show.stdout.splitlines()] == ["n", "1", "2"]
    copied = outside.run_cli(["convert", name, f"out/cli.{ext}"], tmp_path, unprivileged=True)
    assert copied.returncode == 0, copied.stderr

    script = outside.run_script(READ.format(ext=ext), tmp_path, f"out/api.{ext}", unprivileged=True)
    assert script.returncode == 0, script.stderr
    assert "records [1, 2]" in script.stdout
    assert "load [1, 2]" in script.stdout
    assert "skipped f(1)" in script.stdout
    assert "BODY RAN" not in script.stdout
    assert outside.stet_lines(script.stdout).count("[stet] 2 completed experiments recorded") == 1
    assert "[stet] 2 completed experiments of f recorded" in script.stdout

    assert listing(runs) == before  # no file made, none changed, not even a lock file
    for copy in ("cli", "api"):
        listed = outside.run_cli(["show", f"out/{copy}.{ext}"], tmp_path)
        assert [line.split()[0] for line in listed.stdout.splitlines()] == ["n", "1", "2"]


RUN = """
import stet

@stet.once(store="runs/s.{ext}", claims={claims})
def f(n):
    print("BODY RAN", n)
    return n

f(3)
"""


@pytest.mark.parametrize("claims", [True, False])
@pytest.mark.parametrize("ext", FILE_FORMATS)
def test_a_call_that_cannot_be_recorded_fails_before_its_body_runs(
    tmp_path: Path, ext: str, claims: bool, restore: None
) -> None:
    runs = made(ext, tmp_path)
    make_read_only(runs)
    before = listing(runs)
    done = outside.run_script(RUN.format(ext=ext, claims=claims), tmp_path, unprivileged=True)
    assert done.returncode != 0
    assert "BODY RAN" not in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("stet.formats.base.StoreNotWritableError: f() did not run")
    assert f"may not write the directory {runs}" in last  # the path
    assert "@stet.once(store=" in last  # and the way out
    assert listing(runs) == before


UNOWNED = """
import stet

@stet.once(store="runs/s.csv")
def g(n):
    print("BODY RAN", n)

g(1)
print("skipped g(1)")
"""


def test_a_read_only_store_that_names_no_function_is_still_skipped(
    tmp_path: Path, restore: None
) -> None:
    """A CSV written by hand (no function column, no .owner file) in a read-only
    directory: its records are taken as the caller's, in memory, and skipped."""
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "s.csv").write_text("n,_stet_timestamp\n1,2026-01-01T00:00:00+00:00\n")
    make_read_only(runs)
    before = listing(runs)
    done = outside.run_script(UNOWNED, tmp_path, unprivileged=True)
    assert done.returncode == 0, done.stderr
    assert "BODY RAN" not in done.stdout
    assert "skipped g(1)" in done.stdout
    assert "its records are taken as runs of g" in done.stdout + done.stderr
    assert listing(runs) == before


def test_a_read_only_store_file_in_a_writable_directory_names_the_file(
    tmp_path: Path, restore: None
) -> None:
    runs = made("csv", tmp_path)
    (runs / "s.csv").chmod(0o444)
    status = outside.run_cli(["status", "runs/s.csv"], tmp_path, unprivileged=True)
    assert "[stet] 2 completed experiments recorded" in status.stdout
    done = outside.run_script(RUN.format(ext="csv", claims=True), tmp_path, unprivileged=True)
    assert "BODY RAN" not in done.stdout
    assert f"may not write the file {runs / 's.csv'}" in done.stderr


def test_a_store_in_a_new_directory_under_a_read_only_one_is_refused_before_the_body(
    tmp_path: Path, restore: None
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o555)
    code = RUN.format(ext="csv", claims=True).replace("runs/s.csv", "shared/new/s.csv")
    done = outside.run_script(code, tmp_path, unprivileged=True)
    assert "BODY RAN" not in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert "f() did not run: stet could not record it in shared/new/s.csv" in last
    assert f"may not write the directory {shared}" in last
    assert os.listdir(shared) == []


KILLED = """
import os, signal
import stet

@stet.once(store="runs/s.csv")
def f(n):
    if n == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-run: its claim files stay

f(1)
f(2)
"""


def test_the_claims_a_killed_worker_left_are_read_without_writing(
    tmp_path: Path, restore: None
) -> None:
    done = outside.run_script(KILLED, tmp_path)
    assert done.returncode == -9
    runs = tmp_path / "runs"
    assert (runs / "s.csv.claims" / "journal").exists()
    make_read_only(runs)
    before = listing(runs)
    status = outside.run_cli(["status", "runs/s.csv"], tmp_path, unprivileged=True)
    assert status.returncode == 0, status.stderr
    assert "[stet] 1 completed experiment recorded" in status.stdout
    assert "running now" not in status.stdout  # its worker is gone
    assert listing(runs) == before


SWEEP = """
import stet

@stet.once(store="runs/s.csv")
def f(n):
    print("BODY RAN", n)

try:
    stet.sweep(f, {"n": [1, 2, 3, 4]}, progress=False)
except PermissionError as error:
    print("refused:", error)
"""


def test_a_sweep_on_a_read_only_store_is_refused_before_its_first_run(
    tmp_path: Path, restore: None
) -> None:
    runs = made("csv", tmp_path)
    make_read_only(runs)
    done = outside.run_script(SWEEP, tmp_path, unprivileged=True)
    assert done.returncode == 0, done.stderr
    assert "BODY RAN" not in done.stdout
    assert "refused: f() did not run" in done.stdout
    assert "Sweep of f" not in done.stdout  # refused before it started


def test_reset_of_a_read_only_store_is_one_clear_error(tmp_path: Path, restore: None) -> None:
    runs = made("csv", tmp_path)
    make_read_only(runs)
    before = listing(runs)
    done = outside.run_cli(["reset", "runs/s.csv", "--yes"], tmp_path, unprivileged=True)
    assert done.returncode == 1
    assert done.stderr.startswith("stet: error: runs/s.csv cannot be changed")
    assert len(done.stderr.splitlines()) == 1
    assert listing(runs) == before


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_a_torn_last_record_is_left_out_and_left_alone(
    tmp_path: Path, ext: str, restore: None
) -> None:
    """A writer stopped mid-append leaves half a record; a reader without the lock
    shows the complete records only, and changes nothing (no .torn file)."""
    runs = made(ext, tmp_path)
    target = runs / "s.parquet" / "_stet_journal.jsonl" if ext == "parquet" else runs / f"s.{ext}"
    half = b"3,2026-03-12T11:" if ext == "csv" else b'{"n": 3, "_stet_timest'
    with open(target, "ab") as handle:
        handle.write(half)
    make_read_only(runs)
    before = listing(runs)
    status = outside.run_cli(["status", f"runs/s.{ext}"], tmp_path, unprivileged=True)
    assert status.returncode == 0, status.stderr
    assert "[stet] 2 completed experiments recorded" in status.stdout
    show = outside.run_cli(["show", f"runs/s.{ext}"], tmp_path, unprivileged=True)
    assert [line.split()[0] for line in show.stdout.splitlines()] == ["n", "1", "2"]
    skip = outside.run_script(READ.format(ext=ext), tmp_path, "out.csv", unprivileged=True)
    assert "skipped f(1)" in skip.stdout, skip.stderr  # the index leaves the tail alone too
    assert "BODY RAN" not in skip.stdout
    assert listing(runs) == before
    assert target.read_bytes().endswith(half)


WRITER = """
import sys
import stet

@stet.once(store="runs/s.sqlite")
def f(n):
    return n

f(1)
f(2)
print("ready", flush=True)
sys.stdin.readline()
f(3)
print("done", flush=True)
sys.stdin.readline()
"""


def test_a_read_only_reader_sees_a_live_sqlite_writers_records(
    tmp_path: Path, restore: None
) -> None:
    """The writer (whom permissions do not stop) keeps its database open, in WAL mode;
    a user who may only read it reads through the writer's log."""
    (tmp_path / "writer.py").write_text(textwrap.dedent(WRITER))
    writer = subprocess.Popen(
        [sys.executable, "writer.py"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline() == "ready\n"
        runs = tmp_path / "runs"
        assert (runs / "s.sqlite-wal").exists()
        make_read_only(runs)
        status = outside.run_cli(["status", "runs/s.sqlite"], tmp_path, unprivileged=True)
        assert "[stet] 2 completed experiments recorded" in status.stdout, status.stderr
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline() == "done\n"
        status = outside.run_cli(["status", "runs/s.sqlite"], tmp_path, unprivileged=True)
        assert "[stet] 3 completed experiments recorded" in status.stdout, status.stderr
    finally:
        writer.kill()
        writer.wait()


# ------------------------------------------------------------------ full reset

FIRST_RUN = """
import os, sys
import stet

store = sys.argv[1]

@stet.once(store=store)
def run(x):
    pass

run(x=1)
run(x=2)
stet.reset({reset})
print("left", sorted(os.listdir(".")))
"""


@pytest.mark.parametrize("ext", FILE_FORMATS)
def test_a_full_reset_leaves_the_directory_as_before_the_first_run(
    tmp_path: Path, ext: str
) -> None:
    code = FIRST_RUN.format(reset="store")
    (tmp_path / "script.py").write_text(textwrap.dedent(code))
    before = sorted(os.listdir(tmp_path))
    done = outside.run([sys.executable, "script.py", f"results.{ext}"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert outside.stet_lines(done.stdout) == [f"[stet] Store cleared: results.{ext}"]
    assert f"left {before}" in done.stdout  # in the process that reset it
    assert sorted(os.listdir(tmp_path)) == before  # and after it exited


def test_the_default_store_is_removed_and_the_transcript_holds(tmp_path: Path) -> None:
    code = FIRST_RUN.format(reset="")
    (tmp_path / "script.py").write_text(textwrap.dedent(code))
    done = outside.run([sys.executable, "script.py", "_stet_store.csv"], tmp_path)
    assert outside.stet_lines(done.stdout) == ["[stet] Store cleared: _stet_store.csv"]
    assert "left ['script.py']" in done.stdout


PARTIAL = """
import stet

@stet.once(store="results.csv")
def run(x):
    print("ran", x)

run(x=1)
run(x=2)
stet.reset("results.csv", {"x": "1"})
print(sorted(r["x"] for r in stet.records("results.csv")))
run(x=1)
run(x=2)
"""


def test_a_reset_of_one_run_keeps_the_store_and_the_others(tmp_path: Path) -> None:
    done = outside.run_script(PARTIAL, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[stet] Removed 1 run matching x=1 from results.csv" in done.stdout
    assert "[2]" in done.stdout
    assert done.stdout.count("ran 1") == 2
    assert done.stdout.count("ran 2") == 1
    assert (tmp_path / "results.csv").exists()


TWO = """
import os
import stet

@stet.once(store="results.csv")
def first(x):
    pass

@stet.once(store="results.csv")
def second(x):
    pass

first(1)
{more}
first.reset()
print("left", sorted(os.listdir(".")))
"""


def test_a_functions_reset_clears_the_store_only_when_it_is_the_only_function(
    tmp_path: Path,
) -> None:
    alone = outside.run_script(TWO.format(more=""), tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert "[stet] Cleared 1 run of first from results.csv" in alone.stdout
    assert "left ['script.py']" in alone.stdout
    shared = outside.run_script(TWO.format(more="second(1)"), tmp_path)
    assert shared.returncode == 0, shared.stderr
    assert "[stet] Cleared 1 run of first from results.csv" in shared.stdout
    listed = outside.run_cli(["status", "results.csv"], tmp_path)
    assert "[stet] 1 completed experiment recorded" in listed.stdout
    assert "Functions: second (1)" in listed.stdout


def test_the_cli_reset_removes_the_store_and_no_says_aborted(tmp_path: Path) -> None:
    made("csv", tmp_path)
    runs = tmp_path / "runs"
    before = listing(runs)
    answered = outside.run_cli(["reset", "runs/s.csv"], tmp_path, stdin="n\n")
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout == (
        "[stet] Clear all 2 runs from runs/s.csv? [y/N] [stet] Aborted; nothing changed\n"
    )
    assert listing(runs) == before
    done = outside.run_cli(["reset", "runs/s.csv"], tmp_path, stdin="y\n")
    assert done.stdout.endswith("[stet] Store cleared: runs/s.csv\n")
    assert os.listdir(runs) == []


def test_a_reset_at_the_repl_asks_and_no_says_aborted(tmp_path: Path) -> None:
    made("csv", tmp_path)
    repl = outside.Repl(tmp_path)
    try:
        repl.type("import stet")
        for answer in ("n", "y"):
            repl.child.sendline("stet.reset('runs/s.csv')")
            repl.child.expect_exact("[y/N] ")
            assert "Clear all 2 runs from runs/s.csv?" in (repl.child.before or "")
            repl.child.sendline(answer)
            repl.child.expect_exact(repl.PROMPT)
            said = (repl.child.before or "").replace("\r\n", "\n")
            if answer == "n":
                assert "[stet] Aborted; nothing changed" in said
                assert (tmp_path / "runs" / "s.csv").exists()
            else:
                assert "[stet] Store cleared: runs/s.csv" in said
                assert os.listdir(tmp_path / "runs") == []
    finally:
        repl.close()


OPEN = """
import os, sys, time
import stet

store = sys.argv[1]

@stet.once(store=store)
def f(n):
    print("ran", n, flush=True)

f(1)
open("ready", "w").close()
while not os.path.exists("go"):
    time.sleep(0.01)
f(2)
f(3)
"""


def wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + outside.TIMEOUT
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


@pytest.mark.parametrize("ext", FILE_FORMATS)
def test_a_process_that_has_the_store_open_records_correctly_after_a_full_reset(
    tmp_path: Path, ext: str
) -> None:
    name = f"s.{ext}"
    (tmp_path / "open.py").write_text(textwrap.dedent(OPEN))
    other = subprocess.Popen(
        [sys.executable, "open.py", name],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(tmp_path / "ready", other)
        reset = outside.run_cli(["reset", name, "--yes"], tmp_path)
        assert reset.stdout == f"[stet] Store cleared: {name}\n", reset.stderr
        assert not (tmp_path / name).exists()
        (tmp_path / "go").touch()
        out, err = other.communicate(timeout=outside.TIMEOUT)
    finally:
        other.kill()
        other.wait()
    assert other.returncode == 0, err
    assert out == "ran 1\nran 2\nran 3\n"
    shown = outside.run_cli(["show", name], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert [line.split()[0] for line in shown.stdout.splitlines()] == ["n", "2", "3"]
    left = sorted(p for p in os.listdir(tmp_path) if p not in ("open.py", "ready", "go"))
    journal = [f"{name}.journal"] if name.endswith(".parquet") else []  # beside its directory
    assert left == sorted([name, *journal, f"{name}.lock", f"{name}.owner"])


EARLIER = """
import stet

@stet.once(store="s.csv")
def f(n):
    pass

f(0)
"""

BUSY = """
import os, sys, time
import stet

@stet.once(store="s.csv")
def f(n):
    open("running", "w").close()
    while not os.path.exists("go"):
        time.sleep(0.01)

f(1)
"""


def test_a_full_reset_keeps_the_claim_of_a_run_running_elsewhere(tmp_path: Path) -> None:
    done = outside.run_script(EARLIER, tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "busy.py").write_text(textwrap.dedent(BUSY))
    busy = subprocess.Popen(
        [sys.executable, "busy.py"], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        wait_for(tmp_path / "running", busy)
        reset = outside.run_cli(["reset", "s.csv", "--yes"], tmp_path)
        assert reset.stdout == "[stet] Store cleared: s.csv\n", reset.stderr
        status = outside.run_cli(["status", "s.csv"], tmp_path)
        assert "1 running now" in status.stdout, status.stderr
        (tmp_path / "go").touch()
        busy.communicate(timeout=outside.TIMEOUT)
    finally:
        busy.kill()
        busy.wait()
    assert busy.returncode == 0
    shown = outside.run_cli(["show", "s.csv"], tmp_path)
    assert [line.split()[0] for line in shown.stdout.splitlines()] == ["n", "1"]
    assert not (tmp_path / "s.csv.claims").exists()  # gone with the last worker


# ------------------------------------------------------------------ closed standard input


def test_reset_with_a_closed_standard_input_is_the_dev_null_refusal(tmp_path: Path) -> None:
    made("csv", tmp_path)
    before = listing(tmp_path / "runs")
    stet = str(outside.BIN / "stet")
    null = outside.run([stet, "reset", "runs/s.csv"], tmp_path)
    closed = outside.run(["sh", "-c", f'exec "{stet}" reset runs/s.csv <&-'], tmp_path)
    assert null.returncode == closed.returncode == 1
    assert closed.stdout == null.stdout == "[stet] Clear all 2 runs from runs/s.csv? [y/N] \n"
    assert closed.stderr == null.stderr
    assert closed.stderr.startswith("stet: error: no answer on standard input; nothing changed")
    assert len(closed.stderr.splitlines()) == 1
    assert listing(tmp_path / "runs") == before
