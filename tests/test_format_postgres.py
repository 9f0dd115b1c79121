"""The PostgreSQL store format: typed columns, widening, rewrites, credentials, lost
connections, claims in the database.

A real server (``conftest.postgres_url``: started by the session, see ``pgserver.py``),
real processes, real ``kill -9``; nothing is mocked. Each test has a table of its own
(``postgres_store``). What every format promises (round trips, many processes, kill -9,
fork, reading in pieces, pandas) is tested in test_contract.py, for PostgreSQL too.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pgserver
import psycopg
import pytest
from test_contract import python, ran, start

import stet
from stet._claims import Claim, Worker
from stet.formats import pglink
from stet.formats import redacted as display_name
from stet.formats.base import DamagedStoreError, StoreConnectionError
from stet.formats.postgres import PostgresTable


def table_of(url: str) -> str:
    return url.rsplit("table=", 1)[1]


def with_query(url: str, query_text: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query_text}"


def server_url(url: str) -> str:
    """The URL without its ``table=`` (libpq knows no such parameter)."""
    parts = urlsplit(url)
    query = "&".join(p for p in parts.query.split("&") if not p.startswith("table="))
    return urlunsplit(parts._replace(query=query))


def query(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(server_url(url), autocommit=True) as con:
        cursor = con.execute(statement, params or None)
        return cursor.fetchall() if cursor.description is not None else []


def column_types(url: str) -> dict[str, str]:
    rows = query(
        url,
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = %s ORDER BY ordinal_position",
        table_of(url),
    )
    return dict(rows)


@pytest.fixture
def fmt(postgres_store: str) -> Iterator[PostgresTable]:
    """The format of a fresh store, used directly."""
    table = PostgresTable(postgres_store, display_name(postgres_store))
    yield table
    table.close()


# -------------------------------------------------------------------- the location


def test_the_password_never_shows_in_the_name() -> None:
    assert display_name("postgresql://ann:pw@db:5432/lab?table=runs") == (
        "postgresql://ann@db:5432/lab?table=runs"
    )
    assert display_name("postgres://ann:p%40ss@[::1]:5432/lab") == "postgres://ann@[::1]:5432/lab"
    assert display_name("postgresql://db/lab?password=pw&sslmode=require") == (
        "postgresql://db/lab?sslmode=require"
    )
    assert display_name("postgresql://ann@db/lab") == "postgresql://ann@db/lab"
    table = PostgresTable("postgresql://ann:hunter22@db/lab", "postgresql://ann:hunter22@db/lab")
    assert "hunter22" not in table.name + repr(table) and table.table == "stet_runs"


@pytest.mark.parametrize(
    ("query_text", "problem"),
    [
        ("table=1runs", "plain identifier"),
        ("table=runs;drop", "plain identifier"),
        ("table=" + "x" * 57, "at most 56 characters"),
        ("table=a&table=b", "names its table 2 times"),
    ],
)
def test_a_bad_table_name_is_refused_clearly(
    postgres_url: str, query_text: str, problem: str
) -> None:
    url = with_query(postgres_url, query_text)
    with pytest.raises(ValueError, match=problem) as error:
        stet.once(store=url, name="f")(lambda x: x)(1)
    assert "?table=runs" in str(error.value) or "give one table=" in str(error.value)
    assert pgserver._password_of(postgres_url) not in str(error.value)


# ------------------------------------------------------------- values and columns


def test_mixed_values_make_a_text_column(postgres_store: str) -> None:
    """A column of numbers and text is text, each cell as a CSV file would show it.

    (That mixed values round-trip across processes: test_contract.py, for every format.)
    """

    @stet.once(store=postgres_store, verbose=False)
    def f(a: object, b: int = 1) -> None:
        pass

    for value in (0.1, 3, 2**60, float("nan"), None, "3", "", True, "nul\x00inside", "\\N"):
        f(value)
    assert f(3.0) is None  # the run f(3)
    types = column_types(postgres_store)
    assert types["a"] == "text" and types["b"] == "bigint"
    assert types["_stet_timestamp"] == "timestamp with time zone"
    assert next(iter(types)) == "_stet_row"
    cells = {a for (a,) in query(postgres_store, f'SELECT a FROM "{table_of(postgres_store)}"')}
    # 3 went into the float column 0.1 made, as 3.0, and stays a float's text when the
    # column becomes text (PostgreSQL itself would write 2.0 as 2 and -0.0 as -0)
    assert {"0.1", "3.0", "1152921504606846976", "'3'", "''", "True", "nan"} <= cells


WIDEN = """
@stet.once(store=store, verbose=False)
def f(x):
    print("ran", repr(x), flush=True)
for value in sys.argv[2:]:
    f(eval(value))
"""


def test_widening_a_column_keeps_every_identity(tmp_path: Path, postgres_store: str) -> None:
    """A column starts as bigint, widens to double precision, then to text."""
    steps = [(["1", "2", "2**52"], "bigint"), (["0.1", "2.0"], "double precision")]
    steps.append((["'abc'", "1e300", "-0.0"], "text"))
    done: list[str] = []
    for values, sql_type in steps:
        out = ran(python(tmp_path, WIDEN, postgres_store, *values))
        assert out == [v for v in map(repr, map(eval, values)) if v not in ("2.0",)]
        assert column_types(postgres_store)["x"] == sql_type
        done += values
    again = python(tmp_path, WIDEN, postgres_store, *done, "1.0", "2", "0.0", "4503599627370496.0")
    assert ran(again) == []
    assert ran(python(tmp_path, WIDEN, postgres_store, "'1'", "3")) == ["'1'", "3"]


def test_a_big_rewrite_copies_and_reads_back(fmt: PostgresTable) -> None:
    header = ["alpha", "seed", "model", "_stet_function", "_stet_timestamp"]
    stamp = "2026-03-12T11:48:59.000001+00:00"
    rows: list[list[Any]] = [[i / 8, i, f"m\t{i % 7}\\", "f", stamp] for i in range(50_000)]
    rows[7][2] = "with\x00nul"  # PostgreSQL cannot keep NUL: the text's literal instead
    with fmt.site.lock:
        fmt.rewrite(header, rows)
    chunk = fmt.read(0, [])
    assert chunk.count == 50_000 and chunk.header == header
    rows[7][2] = "'with\\x00nul'"
    assert chunk.rows == rows


def test_a_reset_is_a_new_generation(postgres_store: str) -> None:
    """The meta table counts the table's generations: how a reader notices a reset.

    (That another process notices it: test_contract.py, for every format.)
    """
    f = stet.once(store=postgres_store, verbose=False, name="f")(lambda i: i)
    f(1)
    stet.reset(postgres_store, confirm=False)
    assert f(5) == 5 and f(1) == 1
    table = table_of(postgres_store)
    [(generation,)] = query(postgres_store, f'SELECT generation FROM "{table}_meta"')
    assert generation == 3  # made, reset, made again by f(5)


def test_a_table_that_is_not_stet_s_is_refused_and_left_alone(postgres_url: str) -> None:
    url = with_query(postgres_url, "table=people")
    query(url, "DROP TABLE IF EXISTS people")
    query(url, "CREATE TABLE people (name text, age int)")
    query(url, "INSERT INTO people VALUES ('ada', 36)")

    @stet.once(store=url)
    def f(x: int) -> None:
        raise AssertionError("must not run")

    with pytest.raises(DamagedStoreError, match="changed nothing") as error:
        f(1)
    assert "people" in str(error.value)
    with pytest.raises(DamagedStoreError, match="changed nothing"):
        stet.status(url)
    table = PostgresTable(url, "people")
    with pytest.raises(DamagedStoreError, match="stet did not make it"), table.site.lock:
        table.rewrite(["x", "_stet_timestamp"], [])
    table.close()
    assert query(url, "SELECT * FROM people") == [("ada", 36)]


def test_convert_to_a_csv_and_back(tmp_path: Path, postgres_store: str) -> None:
    values = [0.5, 3, "a b", None, (1, "x"), 2**60]
    python(
        tmp_path, "stet.once(store=store, verbose=False, name='f')(lambda v: None)", postgres_store
    )
    code = f"""
@stet.once(store=store, verbose=False)
def f(v):
    print("ran", repr(v))
for v in {values!r} + [float(sys.argv[2])]:
    f(v)
"""
    python(tmp_path, code, postgres_store, "0.25")
    csv = tmp_path / "copy.csv"
    assert stet.convert(postgres_store, csv) == len(values) + 1
    back = postgres_store + "_back"
    assert stet.convert(csv, back) == len(values) + 1
    assert ran(python(tmp_path, code, back, "0.75")) == ["0.75"]


# ------------------------------------------------------------------- credentials


def test_no_password_in_any_output_or_error(
    tmp_path: Path, postgres_store: str, postgres_server: pgserver.Server
) -> None:
    password = postgres_server.password
    assert password and password not in display_name(postgres_store)
    code = """
@stet.once(store=store)
def f(i):
    print("ran", i, flush=True)
for i in (1, 2, 1):
    f(i)
stet.status(store)
print(repr(stet.once(store=store, name="g")(lambda j: j)), flush=True)
for url in sys.argv[2:]:
    try:
        stet.once(store=url, name="h")(lambda k: k)(1)
    except Exception as error:
        import traceback
        traceback.print_exc()
        print("failed:", type(error).__name__, error, flush=True)
"""
    parts = urlsplit(postgres_store)
    spelled = parts.password or ""
    wrong = urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{spelled}@", ":wrongpw1@")))
    refused = urlunsplit(parts._replace(netloc=f"{parts.username}:{spelled}@127.0.0.1:1"))
    out = python(tmp_path, code, postgres_store, wrong, refused)
    assert "ran 1" in out and "Skipping f(i=1)" in out
    assert out.count("failed: StoreConnectionError") == 2, out
    assert "password authentication failed" in out and "refused" in out
    for secret in {password, spelled, "wrongpw1"}:
        assert secret not in out
    assert display_name(postgres_store) in out


# ------------------------------------------------------------- lost connections


@pytest.fixture(scope="module")
def private_server() -> Iterator[pgserver.Server]:
    """A server of this module's own, to stop and start (never an external one)."""
    server, reason = pgserver.start(external=False)
    if server is None:
        if os.environ.get("STET_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    yield server
    server.remove()


def test_a_server_down_mid_sweep_records_nothing_more_then_reconnects(
    private_server: pgserver.Server,
) -> None:
    url = f"{private_server.url}?table=sweep"
    executed: list[int] = []

    @stet.once(store=url, verbose=False)
    def point(i: int) -> int:
        executed.append(i)
        if i == 4 and executed.count(4) == 1:
            private_server.stop()  # the server goes away while the run runs
        return i

    assert [point(1), point(2)] == [1, 2]
    private_server.stop()
    with pytest.raises(StoreConnectionError) as down:
        point(3)
    private_server.start()
    with pytest.raises(StoreConnectionError) as during:
        point(4)  # ran, but its record could not be written
    for error in (down, during):
        text = str(error.value)
        assert display_name(url) in text and private_server.password not in text
    assert "nothing was" in str(down.value)
    assert "nothing was recorded or changed" in str(during.value)
    private_server.start()
    assert [point(3), point(4), point(1)] == [3, 4, None]  # connected again; 1 is done
    assert executed == [1, 2, 4, 3, 4]
    assert sorted(i for (i,) in query(url, "SELECT i FROM sweep")) == [1, 2, 3, 4]


def test_a_restart_between_calls_is_no_error(private_server: pgserver.Server) -> None:
    url = f"{private_server.url}?table=restarts"
    point = stet.once(store=url, verbose=False, name="point")(lambda i: i)
    assert point(1) == 1
    private_server.restart()  # every connection is dropped; the next call connects again
    assert [point(2), point(1)] == [2, None]


def test_a_connection_lost_inside_the_lock(fmt: PostgresTable, postgres_store: str) -> None:
    header = ["i", "_stet_timestamp"]
    stamp = "2026-01-01T00:00:00.000000+00:00"
    with fmt.site.lock:
        fmt.rewrite(header, [[1, stamp]])
        (pid,) = fmt._link.connection("a test", "-").execute("SELECT pg_backend_pid()").fetchone()  # type: ignore[misc]
        query(postgres_store, "SELECT pg_terminate_backend(%s)", pid)
        with pytest.raises(StoreConnectionError, match="the run was not recorded"):
            fmt.append(header, [[2, stamp]], fsync=False)
        with pytest.raises(StoreConnectionError, match="and the store's lock with it"):
            fmt.generation()  # no new connection while the lock is thought held
    other = PostgresTable(postgres_store, "other")
    with other.site.lock:  # the lock died with its connection: free for others
        other.append(header, [[3, stamp]], fsync=True)
    other.close()
    with fmt.site.lock:  # and this one connects again
        fmt.append(header, [[4, stamp]], fsync=False)
    assert [row[0] for row in fmt.read(0, []).rows] == [1, 3, 4]


def test_a_cancelled_statement_keeps_the_session(fmt: PostgresTable) -> None:
    """A statement the server cancels (57014) fails the call and leaves the connection,
    and a lock held on it, as they were; the server ending the session drops it."""
    link = fmt._link

    def backend(con: psycopg.Connection[Any]) -> int:
        return int(con.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]

    def slow(con: psycopg.Connection[Any]) -> None:
        con.execute("SET statement_timeout = 10")
        try:
            con.execute("SELECT pg_sleep(5)")
        finally:
            con.execute("RESET statement_timeout")

    before = link.run(backend, "a test", "-")
    with pytest.raises(StoreConnectionError, match="canceling statement due to statement timeout"):
        link.run(slow, "a test", "nothing was done")
    assert link.run(backend, "a test", "-") == before
    assert not pglink._ends_the_session(psycopg.errors.QueryCanceled("cancelled"))
    assert pglink._ends_the_session(psycopg.errors.AdminShutdown("terminating connection"))
    assert pglink._ends_the_session(psycopg.errors.ConnectionFailure("lost"))


# ------------------------------------------------------------------ claims


def other_worker(name: str = "elsewhere") -> Worker:
    """A worker on another machine: this one cannot tell whether it still runs."""
    return Worker(name, 4242, "another-boot/1", 99, f"{name}:4242:cafe")


def test_claims_take_renew_release_running(fmt: PostgresTable) -> None:
    book = fmt.site.claims
    mine = Claim("f", b"\x00key", "f(x=1)", Worker.current(), 30.0)
    theirs = Claim("f", b"\x00key", "f(x=1)", other_worker(), 30.0)
    assert book.take(mine) is None
    assert book.take(mine) is None  # ours already: taken again
    holder = book.take(theirs)
    assert holder is not None and holder.worker.token == Worker.current().token
    assert (
        holder.call == "f(x=1)" and holder.where() == f"{Worker.current().host}, pid {os.getpid()}"
    )
    assert [c.key for c in book.running()] == [b"\x00key"]
    assert book.renew([mine]) == []
    assert book.renew([theirs]) == [theirs]  # held by another worker
    book.release(theirs)  # not theirs to release: nothing happens
    assert len(book.running()) == 1
    book.release(mine)
    assert book.running() == []
    assert book.take(theirs) is None
    other = Claim("g", b"\x00key", "g(x=1)", Worker.current(), 30.0)  # another function
    assert book.take(other) is None
    assert sorted(c.function for c in book.running()) == ["f", "g"]


def test_an_expired_claim_is_taken_over(fmt: PostgresTable) -> None:
    book = fmt.site.claims
    theirs = Claim("f", b"k", "f(1)", other_worker(), 0.3)
    assert book.take(theirs) is None
    mine = Claim("f", b"k", "f(1)", Worker.current(), 30.0)
    holder = book.take(mine)
    assert holder is not None and holder.worker.host == "elsewhere"
    assert [c.worker.host for c in book.running()] == ["elsewhere"]
    time.sleep(0.5)  # the server's clock lets the lease lapse
    assert book.running() == []
    assert book.take(mine) is None
    assert book.renew([theirs]) == [theirs]  # its holder learns it lost the run
    assert book.renew([mine]) == []


def test_a_claim_of_a_killed_worker_is_taken_over_at_once(
    tmp_path: Path, postgres_store: str
) -> None:
    code = """
import time
@stet.once(store=store, lease=600)
def slow(i):
    print("running", i, flush=True)
    time.sleep(600)
slow(1)
"""
    holder = start(tmp_path, code, postgres_store)
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline() == "running 1\n"
        check = """
@stet.once(store=store, lease=600)
def slow(i):
    print("ran", i, flush=True)
slow(1)
"""
        out = python(tmp_path, check, postgres_store)
        assert "running in another worker" in out and ran(out) == []
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        started = time.monotonic()
        assert ran(python(tmp_path, check, postgres_store)) == ["1"]  # no wait for the lease
        assert time.monotonic() - started < 60
    finally:
        holder.kill()
        holder.wait()
    table = table_of(postgres_store)
    assert query(postgres_store, f'SELECT count(*) FROM "{table}_claims"') == [(0,)]


def test_a_running_claim_is_renewed_by_the_heartbeat(tmp_path: Path, postgres_store: str) -> None:
    code = """
import time
@stet.once(store=store, lease=1.0, heartbeat=0.2)
def slow(i):
    print("running", i, flush=True)
    time.sleep(float(sys.argv[2]))
    print("ran", i, flush=True)
slow(1)
"""
    holder = start(tmp_path, code, postgres_store, "3")
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline() == "running 1\n"
        time.sleep(1.5)  # past the first lease: only renewals keep the claim
        out = python(tmp_path, code, postgres_store, "0")
        assert "running in another worker" in out and "running 1" not in out
        assert holder.stdout.read() == "ran 1\n" and holder.wait() == 0
    finally:
        holder.kill()
        holder.wait()
    assert "Skipping slow(i=1)" in python(tmp_path, code, postgres_store, "0")


def test_processes_opening_a_new_store_at_once_make_its_tables_once(postgres_store: str) -> None:
    """Eight connections make the meta and claims tables at the same moment."""
    import threading

    tables = [PostgresTable(postgres_store, "x") for _ in range(8)]
    barrier = threading.Barrier(len(tables))
    failures: list[BaseException] = []

    def prepare(table: PostgresTable) -> None:
        barrier.wait()
        try:
            table.site.prepare()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=prepare, args=(t,)) for t in tables]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for table in tables:
        table.close()
    assert failures == []
    table = table_of(postgres_store)
    assert query(postgres_store, f'SELECT id, generation, owner FROM "{table}_meta"') == [
        (1, 0, None)
    ]


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        (
            "postgresql://u:pw@h1:5432,h2:5432/db?table=x",
            "postgresql://u@h1:5432,h2:5432/db?table=x",
        ),
        (
            "postgres://u:p%40ss@[::1]:5432/db?password=pw&table=t",
            "postgres://u@[::1]:5432/db?table=t",
        ),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("runs.csv", "runs.csv"),
    ],
)
def test_the_store_name_in_messages_never_holds_a_password(location: str, shown: str) -> None:
    from stet.formats import redacted

    assert redacted(location) == shown
