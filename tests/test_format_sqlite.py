"""The SQLite store format: typed values, WAL, no unique index, an intact file after kill -9.

Real database files, real processes, real ``kill -9`` and ``fork``; nothing is mocked.
What every format promises (round trips, many processes, kill -9, fork, reading in
pieces, pandas) is tested in test_contract.py, for SQLite too.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from test_contract import python, ran, start

import stet
from stet.formats.base import DamagedStoreError
from stet.formats.sqlitefile import SqliteFile


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("extension", [".sqlite", ".db"])
def test_values_keep_their_sqlite_types(tmp_path: Path, extension: str) -> None:
    """Numbers are REAL or INTEGER; an integer a double cannot hold, and text, are TEXT.

    (That mixed values round-trip across processes: test_contract.py, for every format.)
    """
    store = tmp_path / f"runs{extension}"

    @stet.once(store=store, verbose=False)
    def f(a: object, b: int = 1) -> None:
        pass

    for value in (0.1, 3, 2**60, 2**53, float("nan"), None, "3", "", True, 1e300, -7):
        f(value)
    assert f(3.0) is None  # the run f(3)
    typed = dict(query(store, "SELECT quote(a), typeof(a) FROM runs"))
    assert typed["0.1"] == typed["1.0e+300"] == "real"
    assert typed["3"] == typed["-7"] == "integer"
    assert typed["'1152921504606846976'"] == "text"  # exact, not a REAL
    assert typed["'9007199254740992'"] == "text"
    assert typed["'''3'''"] == "text"  # the string "3"
    assert typed["''''''"] == "text"  # the string "", not an absent cell
    assert query(store, "SELECT DISTINCT typeof(b), b FROM runs") == [("integer", 1)]


def test_wal_mode_and_no_unique_index(tmp_path: Path) -> None:
    """Identity is the Store's to decide: the table has no unique index (issue 13 changed
    this; an index over the key columns dropped records of a parameter named result)."""
    store = tmp_path / "runs.sqlite"
    python(
        tmp_path, "stet.once(store=store, name='f')(lambda alpha, beta: None)(0.5, 'x')", str(store)
    )
    assert query(store, "PRAGMA journal_mode") == [("wal",)]
    assert query(store, "SELECT sql FROM sqlite_master WHERE type = 'index'") == []


def test_an_older_stores_unique_index_is_removed_and_loses_no_record(tmp_path: Path) -> None:
    """A store made by an older stet has the unique index ``runs_identity``; the first
    write removes it, so runs its index would have refused are recorded."""
    store = tmp_path / "runs.sqlite"
    with sqlite3.connect(store) as con:
        con.execute('CREATE TABLE runs ("n", "result", _stet_timestamp TEXT)')
        con.execute('CREATE UNIQUE INDEX runs_identity ON runs ("n")')  # result left out
        con.execute("INSERT INTO runs VALUES (1, 'a', '2026-01-01T00:00:00.000000+00:00')")
    ran_now: list[str] = []

    @stet.once(store=store, verbose=False)
    def f(n: int, result: str) -> None:
        ran_now.append(result)

    for label in "abc":
        f(1, label)
    assert ran_now == ["b", "c"]
    assert query(store, "SELECT result FROM runs ORDER BY rowid") == [("a",), ("b",), ("c",)]
    assert query(store, "SELECT sql FROM sqlite_master WHERE type = 'index'") == []


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
    # no unique index (issue 13): the Store alone decides which records are one run
    assert query(store, "SELECT sql FROM sqlite_master WHERE type = 'index'") == []
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


WRITER = """
@stet.once(store=store, verbose=False)
def f(i):
    pass
f(-1)  # the store is open when the process forks
child = os.fork()
for i in range(0 if child == 0 else 1, 600, 2):  # the child takes the even points
    f(i)
if child == 0:
    os._exit(0)
os.waitpid(child, 0)
print("looping", flush=True)
for i in range(600, 10**6):  # until it is killed
    f(i)
"""


def test_fork_kill_9_and_concurrent_writers_leave_an_intact_database(tmp_path: Path) -> None:
    """SQLite's own check of every page and index, after what could tear a database file:
    two writers that fork with the store open (four at once), both killed mid-write.

    (That no run is lost or recorded twice then: test_contract.py, for every format.)
    """
    store = tmp_path / "runs.sqlite"
    writers = [start(tmp_path, WRITER, str(store)) for _ in range(2)]
    try:
        lines = [writer.stdout.readline() for writer in writers if writer.stdout]
        assert lines == ["looping\n"] * 2  # each forked, and its child has finished
        time.sleep(0.3)  # both write records, each is killed wherever it is
        for writer in writers:
            writer.send_signal(signal.SIGKILL)
        assert [writer.wait(60) for writer in writers] == [-signal.SIGKILL] * 2
    finally:
        for writer in writers:
            writer.kill()
            writer.wait()
    assert query(store, "PRAGMA integrity_check") == [("ok",)]
    [(count, distinct)] = query(store, "SELECT count(*), count(DISTINCT i) FROM runs")
    assert count == distinct > 600


def test_values_written_by_hand_become_cells(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    fmt = SqliteFile(str(path), "runs.sqlite")
    fmt.rewrite(["a", "_stet_timestamp"], [])
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO runs VALUES (NULL, 't'), (TRUE, 't'), (?, 't')", (2**60,))
    con.close()
    assert fmt.read(0, []).columns[0] == ["", 1, "1152921504606846976"]
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO runs VALUES (x'00ff', 't')")
    con.close()
    with pytest.raises(DamagedStoreError, match="column a holds a BLOB"):
        fmt.read(0, [])
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
