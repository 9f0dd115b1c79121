"""The SQLite store format: typed values, WAL, a unique index, many processes, kill -9.

Real database files, real processes, real ``kill -9`` and ``fork``; nothing is mocked.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import stet
from stet.formats.base import DamagedStoreError
from stet.formats.sqlitefile import SqliteFile

TIMEOUT = 120

HEADER = """
import os, sys, stet
store = sys.argv[1]
"""


def python(directory: Path, code: str, *args: str) -> str:
    """Run ``code`` in a fresh interpreter in ``directory``; its output. It must exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", HEADER + code, *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as con:
        return con.execute(sql).fetchall()


def ran(output: str) -> list[str]:
    return [line[4:] for line in output.splitlines() if line.startswith("ran ")]


MIXED = """
values = [0.1, 3, 2**60, 2**53, float("nan"), float("inf"), None, "3", "", True, (1, 2),
          "it's, \\"quoted\\"\\nand two lines", 1e300, -7, -0.0]

@stet.once(store=store, verbose=False)
def f(a, b=1):
    print("ran", repr(a), flush=True)

for value in values:
    f(value)
f(3.0)  # the run f(3)
f(0.0)  # the run f(-0.0)
"""


@pytest.mark.parametrize("extension", [".sqlite", ".db"])
def test_mixed_values_round_trip_across_processes(tmp_path: Path, extension: str) -> None:
    store = tmp_path / f"runs{extension}"
    first = ran(python(tmp_path, MIXED, str(store)))
    assert len(first) == 15 and "3.0" not in first and "0.0" not in first
    assert ran(python(tmp_path, MIXED, str(store))) == []  # every run skipped after restart
    typed = dict(query(store, "SELECT quote(a), typeof(a) FROM runs"))
    assert typed["0.1"] == typed["1.0e+300"] == "real"
    assert typed["3"] == typed["-7"] == "integer"
    assert typed["'1152921504606846976'"] == "text"  # exact, not a REAL
    assert typed["'9007199254740992'"] == "text"
    assert typed["'''3'''"] == "text"  # the string "3"
    assert typed["''''''"] == "text"  # the string "", not an absent cell
    assert query(store, "SELECT DISTINCT typeof(b), b FROM runs") == [("integer", 1)]


def test_wal_mode_and_the_unique_index(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    python(tmp_path, "stet.once(store=store)(lambda alpha, beta: None)(0.5, 'x')", str(store))
    assert query(store, "PRAGMA journal_mode") == [("wal",)]
    [(sql,)] = query(store, "SELECT sql FROM sqlite_master WHERE type = 'index'")
    assert sql.startswith("CREATE UNIQUE INDEX") and '"alpha", "beta"' in sql
    with pytest.raises(sqlite3.IntegrityError), sqlite3.connect(store) as con:
        con.execute("INSERT INTO runs VALUES (0.5, 'x', '2026-01-01T00:00:00+00:00')")
    with sqlite3.connect(store) as con:  # the equal number of the other type is the same run
        with pytest.raises(sqlite3.IntegrityError):
            con.execute("INSERT INTO runs VALUES (1.0, 'x', 't'), (1, 'x', 't')")
        con.execute("INSERT INTO runs VALUES ('0.5', 'x', 't')")  # text is another value


def test_the_sqlite3_command_line_tool_reads_the_store(tmp_path: Path) -> None:
    cli = shutil.which("sqlite3")
    assert cli, "install the sqlite3 command line tool (apt-get install sqlite3)"
    store = tmp_path / "runs.sqlite"
    code = """
@stet.once(store=store)
def f(alpha, label):
    pass
for i in range(3):
    f(i / 4, f"point {i}")
"""
    python(tmp_path, code, str(store))
    out = subprocess.run(
        [cli, "-csv", "-header", str(store), "SELECT alpha, label FROM runs ORDER BY alpha"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.splitlines() == [
        "alpha,label",
        '0.0,"point 0"',
        '0.25,"point 1"',
        '0.5,"point 2"',
    ]


def test_pandas_reads_natural_dtypes(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    code = """
@stet.once(store=store)
def f(rate, seed, model):
    pass
for seed in range(4):
    f(0.1 * seed, seed, "resnet")
"""
    python(tmp_path, code, str(store))
    with sqlite3.connect(store) as con:
        frame = pd.read_sql("SELECT * FROM runs", con)
    assert str(frame["rate"].dtype) == "float64"
    assert str(frame["seed"].dtype) == "int64"
    assert frame["model"].tolist() == ["resnet"] * 4
    assert frame["seed"].tolist() == [0, 1, 2, 3]
    assert pd.to_datetime(frame["_stet_timestamp"]).dt.tz is not None


def test_a_reset_is_noticed_by_another_process(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    code = """
@stet.once(store=store, verbose=False)
def f(i):
    print("ran", i, flush=True)
f(1); f(2)
print("ready", flush=True)
sys.stdin.readline()
f(3)  # not done: reads what changed, and learns that 1 and 2 are gone
f(1); f(2)
"""
    worker = subprocess.Popen(
        [sys.executable, "-c", HEADER + code, str(store)],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        assert [worker.stdout.readline() for _ in range(3)] == ["ran 1\n", "ran 2\n", "ready\n"]
        stet.reset(store, confirm=False)

        @stet.once(store=store, verbose=False)
        def f(i: int) -> None:
            pass

        for i in (5, 6, 7):  # row ids past the worker's cursor
            f(i)
        worker.stdin.write("go\n")
        worker.stdin.close()
        assert ran(worker.stdout.read()) == ["3", "1", "2"]
    finally:
        worker.kill()
        worker.wait()
    assert sorted(i for (i,) in query(store, "SELECT i FROM runs")) == [1, 2, 3, 5, 6, 7]


def test_two_functions_share_a_store_through_added_columns(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    code = """
@stet.once(store=store, verbose=False)
def f(a):
    print("ran f", a)
@stet.once(store=store, verbose=False)
def g(a, b):
    print("ran g", a, b)
for a in range(3):
    f(a); g(a, 0)
"""
    assert len(ran(python(tmp_path, code, str(store)))) == 6
    assert ran(python(tmp_path, code, str(store))) == []
    columns = [row[1] for row in query(store, "PRAGMA table_info(runs)")]
    assert columns == ["a", "_stet_timestamp", "b", "_stet_function"]
    assert query(store, "PRAGMA user_version") == [(1,)]  # added in place: never rewritten
    [(sql,)] = query(store, "SELECT sql FROM sqlite_master WHERE type = 'index'")
    assert "coalesce(_stet_function, '')" in sql and '"b"' in sql
    labels = query(store, "SELECT coalesce(_stet_function, '-'), count(*) FROM runs GROUP BY 1")
    assert sorted(labels) == [("-", 1), ("f", 2), ("g", 3)]  # f(0) came before the column


@pytest.mark.parametrize("kind", ["other tables", "garbage", "a runs table not stet's"])
def test_a_file_that_is_not_a_stet_store_is_refused_and_left_alone(
    tmp_path: Path, kind: str
) -> None:
    store = tmp_path / "runs.sqlite"
    if kind == "garbage":
        store.write_bytes(b"not a database at all\n" * 300)
    else:
        with sqlite3.connect(store) as con:
            table = "people" if kind == "other tables" else "runs"
            con.execute(f"CREATE TABLE {table} (name, age)")
            con.execute(f"INSERT INTO {table} VALUES ('ada', 36)")
        con.close()
    before = store.read_bytes()

    @stet.once(store=store)
    def f(x: int) -> None:
        raise AssertionError("must not run")

    attempts = [lambda: f(1), lambda: stet.reset(store), lambda: stet.status(store)]
    for attempt in attempts:
        with pytest.raises(DamagedStoreError, match="changed nothing") as error:
            attempt()
        assert str(store) in str(error.value)
    assert store.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("runs.sqlite-")) == []
    target = SqliteFile(str(store), "runs.sqlite")  # a rewrite refuses too
    with pytest.raises(DamagedStoreError, match="changed nothing"):
        target.rewrite(["x", "_stet_timestamp"], [])
    target.close()
    assert store.read_bytes() == before


LOOP = """
@stet.once(store=store, verbose=False, fsync=sys.argv[2] == "fsync")
def f(i):
    return i
for i in range(10**6):
    if (done := f(i)) is not None:  # None: skipped, done in an earlier round
        print(done, flush=True)
"""


@pytest.mark.parametrize("fsync", ["no fsync", "fsync"])
def test_kill_9_of_a_writer_loses_nothing_reported_done(tmp_path: Path, fsync: str) -> None:
    store = tmp_path / "runs.sqlite"
    printed: set[int] = set()
    for after in (50, 400, 7):  # kill it three times, at different moments
        writer = subprocess.Popen(
            [sys.executable, "-c", HEADER + LOOP, str(store), fsync],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        lines = [writer.stdout.readline() for _ in range(after)]
        writer.send_signal(signal.SIGKILL)
        lines += writer.stdout.readlines()  # what it printed before it died
        assert writer.wait() == -signal.SIGKILL
        printed.update(int(line) for line in lines if line.endswith("\n"))
        stored = {i for (i,) in query(store, "SELECT i FROM runs")}
        assert printed <= stored
    assert query(store, "PRAGMA integrity_check") == [("ok",)]
    check = """
@stet.once(store=store, verbose=False)
def f(i):
    print("ran", i)
for i in range(int(sys.argv[2])):
    f(i)
"""
    again = ran(python(tmp_path, check, str(store), str(max(printed) + 1)))
    assert not printed & {int(i) for i in again}


def test_four_processes_append_at_once(tmp_path: Path) -> None:
    store, go = tmp_path / "runs.sqlite", tmp_path / "go"
    code = """
import random, time
@stet.once(store=store, verbose=False)
def f(i, label="x"):
    pass
grid = list(range(300))
random.Random(int(sys.argv[3])).shuffle(grid)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.001)
for i in grid:
    f(i)
"""
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", HEADER + code, str(store), str(go), str(seed)],
            cwd=tmp_path,
        )
        for seed in range(4)
    ]
    time.sleep(0.5)  # let them start; the test holds without it, only with less overlap
    go.touch()
    assert [worker.wait(TIMEOUT) for worker in workers] == [0, 0, 0, 0]
    assert query(store, "SELECT count(*), count(DISTINCT i) FROM runs") == [(300, 300)]
    assert query(store, "PRAGMA integrity_check") == [("ok",)]


def test_fork_with_an_open_store(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    code = """
@stet.once(store=store, verbose=False)
def f(i):
    print("ran", os.getpid(), i, flush=True)
f(1)
pid = os.fork()
if pid == 0:
    f(2); f(1)
    sys.exit(0)
_, status = os.waitpid(pid, 0)
assert status == 0, status
f(3); f(2); f(1)
"""
    lines = [line.split() for line in ran(python(tmp_path, code, str(store)))]
    assert [int(i) for _, i in lines] == [1, 2, 3]
    assert lines[0][0] == lines[2][0] != lines[1][0]  # 2 ran in the child, 3 in the parent
    assert sorted(query(store, "SELECT i FROM runs")) == [(1,), (2,), (3,)]
    assert query(store, "PRAGMA integrity_check") == [("ok",)]


def test_reads_in_pieces_and_notices_a_rewrite(tmp_path: Path) -> None:
    path = str(tmp_path / "runs.sqlite")
    writer, reader = SqliteFile(path, "runs.sqlite"), SqliteFile(path, "runs.sqlite")
    header = ["i", "x", "_stet_timestamp"]
    rows = [[i, "" if i % 3 else f"t{i}", "2026"] for i in range(1, 1001)]
    writer.rewrite(header, rows)
    got: list[list[object]] = []
    cursor = 0
    while True:
        chunk = reader.read_from(cursor, header, 1, limit=64 * 300)
        assert chunk.header == header and chunk.count <= 300
        got += chunk.rows
        if chunk.end == cursor:
            break
        cursor = chunk.end
    assert got == rows and reader.end_if_same() == cursor == 1000
    writer.append(header, {"i": 1001, "_stet_timestamp": "2026"}, fsync=False)
    assert reader.end_if_same() == 1001
    writer.rewrite(header, rows[:10])
    assert reader.end_if_same() is None  # the generation changed: read from 0 again
    writer.close()
    reader.close()


def test_values_written_by_hand_become_cells(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    fmt = SqliteFile(str(path), "runs.sqlite")
    fmt.rewrite(["a", "_stet_timestamp"], [])
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO runs VALUES (NULL, 't'), (TRUE, 't'), (?, 't')", (2**60,))
    con.close()
    assert fmt.read_from(0, [], 1).columns[0] == ["", 1, "1152921504606846976"]
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO runs VALUES (x'00ff', 't')")
    con.close()
    with pytest.raises(DamagedStoreError, match="column a holds a BLOB"):
        fmt.read_from(0, [], 1)
    fmt.close()


def test_key_columns_named_like_the_row_id(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    code = """
@stet.once(store=store, verbose=False)
def f(rowid, oid):
    print("ran", rowid, oid, flush=True)
for i in range(int(sys.argv[2])):
    f(10 - i, "x")
"""
    assert ran(python(tmp_path, code, str(store), "3")) == ["10 x", "9 x", "8 x"]
    assert ran(python(tmp_path, code, str(store), "5")) == ["7 x", "6 x"]
    assert query(store, "SELECT _rowid_, rowid FROM runs ORDER BY 1") == [
        (1, 10),
        (2, 9),
        (3, 8),
        (4, 7),
        (5, 6),
    ]
