"""Promise 9: a credential in a store URL never appears in anything stet shows or writes.

One battery (``exercise``) passes a store URL through every public function of stet
and collects everything a user could see: standard output and error (the progress bar
too), warnings, every exception with its chained causes, suppressed contexts and
traceback, ``repr()``/``str()`` of every stet object, every file in the working
directory and every row of the store's tables. The same battery runs on a working
store (its password in the user part, or in the query), and on every way a store can
fail: a wrong password, a refused port, an unknown database, a server stopped
mid-use, a damaged table, and URLs libpq cannot read. The command line and scripts are
driven from subprocesses in ``tests/as_a_user/test_credentials.py``.
"""

from __future__ import annotations

import os
import secrets
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pgserver
import psycopg
import pytest
from psycopg import sql

import stet
import stet.cli
from stet._registry import get_store
from stet.formats import redacted, url_passwords

# ---------------------------------------------------------------------------- helpers


def secret_forms(password: str) -> set[str]:
    """A password as it may be spelled: as is, percent-encoded, and its distinctive tail."""
    forms = {password, quote(password, safe=""), quote(password)}
    tail = password.rsplit("@", 1)[-1].rsplit("-", 1)[-1]
    if len(tail) >= 8:
        forms.add(tail)  # also a part of it (libpq may echo the text after an @)
    return forms


def with_password(url: str, password: str, *, in_query: bool = False, query: str = "") -> str:
    """``url`` with ``password`` (percent-encoded) in its user part, or in its query."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or "stet"
    encoded = quote(password, safe="")
    netloc = f"{user}@{host}" if in_query else f"{user}:{encoded}@{host}"
    pairs = [f"password={encoded}"] if in_query else []
    pairs += [p for p in (parts.query, query) if p]
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(pairs)))


def error_texts(error: BaseException) -> list[str]:
    """Everything an exception shows: its text, repr and traceback, and the same of every
    cause and context in its chain (also a context ``from None`` suppresses)."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        texts += [str(getattr(current, a, "")) for a in ("filename", "filename2", "strerror")]
        stack += [current.__cause__, current.__context__]
    return texts


class Seen:
    """What a user saw and what stet wrote, checked for every spelling of the secrets."""

    def __init__(self, *passwords: str) -> None:
        self.forms = set().union(*(secret_forms(p) for p in passwords))
        self.texts: list[tuple[str, str]] = []
        self.errors: list[str] = []  # type names of the exceptions raised, in order

    def add(self, where: str, *texts: object) -> None:
        self.texts += [(where, t if isinstance(t, str) else repr(t)) for t in texts]

    def call(self, where: str, action: Callable[[], Any]) -> Any:
        """``action()``; what it returns (its repr and str), or what it raised."""
        try:
            value = action()
        except Exception as error:
            self.errors.append(type(error).__name__)
            self.add(where, *error_texts(error))
            return None
        self.add(where, repr(value), str(value))
        return value

    def check(self) -> None:
        """No secret shows anywhere, and every error was stet's answer, not the battery's."""
        assert not {"StopIteration", "AttributeError", "KeyError", "NameError"} & set(
            self.errors
        ), self.errors
        assert self.leaks() == []

    def leaks(self) -> list[str]:
        return [
            f"{where}: {form!r} in {text[:300]!r}"
            for where, text in self.texts
            for form in self.forms
            if form in text
        ]


def files_text(directory: Path) -> list[tuple[str, str]]:
    """Every file under ``directory``, as text (the bytes decoded, whatever they are)."""
    found = []
    for root, _, names in os.walk(directory):
        for name in names:
            path = Path(root, name)
            found.append((str(path), path.read_bytes().decode("utf-8", "replace")))
            found.append((f"{path} (name)", str(path)))
    return found


def tables_text(server_url: str, table: str) -> list[tuple[str, str]]:
    """Every row of the tables stet made for ``table`` (``table``, ``table_meta``,
    ``table_claims``, ``table_c``...), as text."""
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as con:
        tables = con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND starts_with(tablename, %s)",
            (table,),
        ).fetchall()
        found = []
        for (name,) in tables:
            query = sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(name))
            found += [(f"table {name}", row[0] or "") for row in con.execute(query).fetchall()]
        assert len(tables) >= 3, tables  # the records, their meta and claims tables at least
    return found


# ---------------------------------------------------------------------------- the battery

# Every public name of stet, and where the battery exercises it.
COVERED = {
    "DEFAULT_STORE": "the CLI's default; no URL in it",
    "DamagedStoreError": "a damaged table raises it",
    "Explanation": "point.explain: completed, failed, nearest; stet why",
    "Failure": "the sweep's failures",
    "StoreConnectionError": "every server error raises it",
    "SweepSummary": "stet.sweep returns it",
    "UnsupportedValueError": "an unsupported argument raises a TypeError",
    "convert": "both ways, and onto a store that exists",
    "load": "stet.load",
    "once": "calls, skips, failures, func.status, func.reset",
    "output_dir": "in the body of keep, and outside a run (its error)",
    "outputs": "stet.outputs of a store with keep's run directories",
    "records": "stet.records, also failed=True and an unknown column",
    "reset": "stet.reset: matching runs, failures, everything, a missing store",
    "status": "stet.status, with function=, and func.status(grid=...)",
    "sweep": "stet.sweep with its progress bar and summary",
}


def exercise(
    url: str, directory: Path, seen: Seen, *, during: Callable[[], None] | None = None
) -> None:
    """Pass ``url`` through every public function of stet; collect all there is to see.

    ``during`` runs inside the body of the first run (a server stopped mid-use).
    """
    for name in ("leak.csv", "back.csv", "again.csv"):
        with (directory / name).open("w") as handle:
            handle.write("a,b\n1,2\n3,4\n")
    os.remove(directory / "back.csv")
    calls: list[int] = []

    def body(i: int, extra: object = None) -> int:
        calls.append(i)
        if during is not None and len(calls) == 1:
            during()
        if i == 3:
            raise ValueError(f"no good: {i}")
        return i * 2

    body.__qualname__ = body.__name__ = "point"

    def kept(i: int) -> None:
        (stet.output_dir() / "i.txt").write_text(str(i))

    kept.__qualname__ = kept.__name__ = "keep"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        point = seen.call(
            "once", lambda: stet.once(store=url, results=True, failures="record")(body)
        )
        if point is not None:
            seen.add("decorated", repr(point), str(point), repr(point.status), repr(point.reset))
            for i in (1, 2, 1, 3, 3):
                seen.call(f"point({i})", lambda i=i: point(i))
            seen.call("unsupported", lambda: point(4, extra=object()))
            seen.call("point.status", point.status)
            for i in (1, 3, 5):
                found = seen.call(f"point.explain({i})", lambda i=i: point.explain(i))
                if found is not None:
                    seen.add(f"explain({i})", str(found), repr(found), repr(found.__slots__))
                    seen.add(f"explain({i}) facts", found.store, repr(found.record))
            seen.call(
                "stet why", lambda: stet.cli.main(["why", url, "--where", "i=5", "extra=None"])
            )
            seen.call(
                "stet why (a match)",
                lambda: stet.cli.main(["why", url, "--where", "i=1", "extra=None"]),
            )
            seen.call("point.status(grid)", lambda: point.status(grid={"i": range(6)}))
            summary = seen.call(
                "sweep", lambda: stet.sweep(point, {"i": range(6)}, progress="always")
            )
            if summary is not None:
                seen.add(
                    "summary", *map(str, summary.failures), *(f.traceback for f in summary.failures)
                )
        keep = seen.call(
            "once(outputs=)", lambda: stet.once(store=url, outputs=directory / "data")(kept)
        )
        if keep is not None:
            seen.call("keep(1)", lambda: keep(1))
            seen.call("keep(1) again", lambda: keep(1))
            found = seen.call("outputs", lambda: list(stet.outputs(url)))
            seen.add("outputs", repr(found))
            seen.add("run files", *(p.read_text() for p in directory.glob("data/*/*/*.json")))
        seen.call("output_dir outside a run", stet.output_dir)
        store = seen.call("get_store", lambda: get_store(url))
        if store is not None:
            seen.add("store", repr(store), str(store), store.name, repr(store._file))
        seen.call("status", lambda: stet.status(url))
        seen.call("status(function)", lambda: stet.status(url, function="point"))
        seen.call("records", lambda: stet.records(url))
        seen.call("records(failed)", lambda: stet.records(url, failed=True))
        seen.call("records(unknown)", lambda: stet.records(url, {"nope": 1}))
        frame = seen.call("load", lambda: stet.load(url))
        if frame is not None:
            seen.add("load", frame.to_string(), repr(frame.attrs))
        seen.call("convert from", lambda: stet.convert(url, directory / "back.csv"))
        seen.call("convert onto", lambda: stet.convert(directory / "leak.csv", url))
        seen.call(
            "convert to",
            lambda: stet.convert(directory / "leak.csv", other_table(url, f"{table_of(url)}_c")),
        )
        seen.call(
            "convert missing",
            lambda: stet.convert(
                other_table(url, f"{table_of(url)}_none"), directory / "again2.csv"
            ),
        )
        if point is not None:
            seen.call("point.reset(i)", lambda: point.reset(i=2, confirm=False))
            seen.call("point.reset(failed)", lambda: point.reset(failed=True, confirm=False))
            seen.call("point.reset", lambda: point.reset(confirm=False))
        seen.call("reset(where)", lambda: stet.reset(url, {"i": 1}, confirm=False))
        seen.call("reset", lambda: stet.reset(url, confirm=False))
        seen.call(
            "reset(missing)",
            lambda: stet.reset(other_table(url, f"{table_of(url)}_none"), confirm=False),
        )
    seen.add("warnings", *(f"{w.category.__name__}: {w.message} ({w.filename})" for w in caught))
    seen.texts += files_text(directory)


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A working directory of the test's own (stet's files go there)."""
    before = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def table_url(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}table=t_{secrets.token_hex(5)}"


def table_of(url: str) -> str:
    """The ``table=`` of a store URL (its last query: a password may hold a ``?``)."""
    pairs = [p.partition("=") for p in url.rpartition("?")[2].split("&")]
    return next(value for key, _, value in pairs if key == "table")


def other_table(url: str, table: str) -> str:
    """``url`` with another ``table=``."""
    head, _, query = url.rpartition("?")
    kept = [p for p in query.split("&") if p and not p.startswith("table=")]
    return f"{head}?{'&'.join([*kept, f'table={table}'])}"


# ---------------------------------------------------------------------------- the tests


def test_every_public_name_is_exercised() -> None:
    assert set(COVERED) == set(stet.__all__)


@pytest.mark.parametrize("where", ["user part", "query"])
def test_a_working_store_never_shows_its_password(
    where: str, workdir: Path, postgres_server: pgserver.Server, capfd: pytest.CaptureFixture[str]
) -> None:
    password = postgres_server.password
    url = table_url(with_password(postgres_server.url, password, in_query=where == "query"))
    seen = Seen(password)
    exercise(url, workdir, seen)
    out, err = capfd.readouterr()
    seen.add("stdout", out)
    seen.add("stderr", err)
    seen.texts += tables_text(postgres_server.url, table_of(url))
    # the battery did what it says: it ran, skipped, failed, swept, converted and reset
    assert "Skipping point(i=1" in out and "Converted 2 records from" in out, out
    assert "Sweep of point" in out and "%|" in err, (out, err)
    assert "Removed" in out and redacted(url) in out
    assert "i=1, extra=None: completed at " in out
    assert "Skipping keep(i=1)" in out and "RuntimeError" in seen.errors
    # in place, or moved aside by the battery's reset of everything: never deleted
    assert [p.read_text() for p in workdir.glob("data/**/keep/i=1/i.txt")] == ["1"]
    assert f"i=5, extra=None: not run: no record in {redacted(url)}" in out
    assert {"ValueError", "TypeError", "FileExistsError", "FileNotFoundError"} <= set(
        seen.errors
    ), seen.errors
    seen.check()


def test_a_wrong_password_never_shows_either_password(
    workdir: Path, postgres_server: pgserver.Server, capfd: pytest.CaptureFixture[str]
) -> None:
    wrong = f"wr0ng@{secrets.token_hex(8)}"
    seen = Seen(postgres_server.password, wrong)
    for in_query in (False, True):
        url = table_url(with_password(postgres_server.url, wrong, in_query=in_query))
        exercise(url, workdir, seen)
    out, err = capfd.readouterr()
    seen.add("output", out, err)
    assert "password authentication failed" in "".join(t for _, t in seen.texts)
    assert seen.errors.count("StoreConnectionError") >= 20, seen.errors
    seen.check()


@pytest.mark.parametrize(
    "place",
    ["refused port", "unknown database", "unknown host"],
)
def test_a_server_that_cannot_be_reached_never_shows_the_password(
    place: str, workdir: Path, postgres_server: pgserver.Server, capfd: pytest.CaptureFixture[str]
) -> None:
    password = f"p@ss-{secrets.token_hex(8)}"  # p%40ss-... in the URL: neither form shows
    parts = urlsplit(with_password(postgres_server.url, password))
    if place == "refused port":
        parts = parts._replace(netloc=f"{parts.netloc.rpartition('@')[0]}@127.0.0.1:1")
    elif place == "unknown database":
        parts = parts._replace(path=f"/nope_{secrets.token_hex(4)}")
    else:
        parts = parts._replace(netloc=f"{parts.netloc.rpartition('@')[0]}@no-such-host.invalid")
    url = table_url(urlunsplit(parts)) + "&connect_timeout=3"
    seen = Seen(password, postgres_server.password)
    exercise(url, workdir, seen)
    out, err = capfd.readouterr()
    seen.add("output", out, err)
    assert seen.errors.count("StoreConnectionError") >= 10, seen.errors
    seen.check()


@pytest.fixture(scope="module")
def own_server() -> Iterator[pgserver.Server]:
    """A server of this module's own, to stop and start."""
    server, reason = pgserver.start(external=False)
    if server is None:
        if os.environ.get("STET_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    yield server
    server.remove()


@pytest.mark.parametrize("event", ["stopped", "restarted"])
def test_a_server_stopped_mid_use_never_shows_the_password(
    event: str, workdir: Path, own_server: pgserver.Server, capfd: pytest.CaptureFixture[str]
) -> None:
    """The server goes away in the first run's body: for good, or it comes back at once
    (every connection lost)."""
    url = table_url(own_server.url)
    seen = Seen(own_server.password)
    stet.once(store=url, name="point")(lambda i: i)(0)  # connected, with the tables made
    during = own_server.stop if event == "stopped" else own_server.restart
    try:
        exercise(url, workdir, seen, during=during)
    finally:
        if event == "stopped":
            own_server.start()
    out, err = capfd.readouterr()
    seen.add("output", out, err)
    texts = "".join(t for _, t in seen.texts)
    if event == "stopped":
        assert seen.errors.count("StoreConnectionError") >= 10, seen.errors
        assert "Connection refused" in texts
        assert "the run was not recorded" in texts or "nothing was recorded" in texts
    else:  # stet connects again: the battery runs as on a server that stayed up
        assert "StoreConnectionError" not in seen.errors, seen.errors
        assert "Converted 2 records from" in out
    seen.texts += tables_text(own_server.url, table_of(url))
    seen.check()


@pytest.mark.parametrize("damage", ["foreign table", "bytes column"])
def test_a_damaged_table_never_shows_the_password(
    damage: str, workdir: Path, postgres_server: pgserver.Server, capfd: pytest.CaptureFixture[str]
) -> None:
    url = table_url(postgres_server.url)
    table = table_of(url)
    with psycopg.connect(postgres_server.url, autocommit=True) as con:
        if damage == "foreign table":
            con.execute(sql.SQL("CREATE TABLE {} (a int, b text)").format(sql.Identifier(table)))
            con.execute(sql.SQL("INSERT INTO {} VALUES (1, 'x')").format(sql.Identifier(table)))
    if damage == "bytes column":
        stet.once(store=url, name="point")(lambda i: i)(0)
        with psycopg.connect(postgres_server.url, autocommit=True) as con:
            name = sql.Identifier(table)
            con.execute(sql.SQL("ALTER TABLE {} ADD COLUMN raw bytea").format(name))
            con.execute(sql.SQL("UPDATE {} SET raw = '\\x00ff'").format(name))
    seen = Seen(postgres_server.password)
    exercise(url, workdir, seen)
    out, err = capfd.readouterr()
    seen.add("output", out, err)
    assert "DamagedStoreError" in seen.errors, seen.errors
    seen.texts += tables_text(postgres_server.url, table)
    seen.check()


@pytest.mark.parametrize(
    ("spelled", "problem"),
    [
        ("p%zz{}", "invalid percent-encoded token"),  # libpq echoes the token
        ("p@ss{}", "percent-encode"),  # libpq would read the password p, host ss...@
        ("pa/ss{}", "percent-encode"),  # libpq would read the host pa
        ("pa?ss{}", "percent-encode"),
        ("pa%00ss{}", "forbidden value %00"),
    ],
)
def test_a_url_libpq_cannot_read_is_refused_without_its_password(
    spelled: str,
    problem: str,
    workdir: Path,
    postgres_server: pgserver.Server,
    capfd: pytest.CaptureFixture[str],
) -> None:
    token = secrets.token_hex(8)
    password = spelled.format(token)
    host = urlsplit(postgres_server.url).netloc.rpartition("@")[2]
    url = f"postgresql://stet:{password}@{host}/stet?table=t_{token[:6]}"
    seen = Seen(password, token)
    exercise(url, workdir, seen)
    out, err = capfd.readouterr()
    seen.add("output", out, err)
    texts = "".join(t for _, t in seen.texts)
    assert problem in texts and "postgresql://stet@" in texts
    assert seen.errors.count("ValueError") >= 10, seen.errors
    seen.check()


def test_an_unterminated_ipv6_host_is_refused_without_the_password(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    token = secrets.token_hex(8)
    url = f"postgresql://stet:pw{token}@[::1/stet?table=t_{token[:6]}"  # libpq echoes the whole URL
    seen = Seen(token)
    exercise(url, workdir, seen)
    out, err = capfd.readouterr()
    seen.add("output", out, err)
    assert "stet cannot read the store URL postgresql://stet@[::1/stet" in "".join(
        t for _, t in seen.texts
    )
    seen.check()


# ---------------------------------------------------------------------------- the function


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("postgresql://u:pw@h/db?sslpassword=key&table=t", "postgresql://u@h/db?table=t"),
        ("postgresql://h/db?pass%77ord=p%40ss&table=t", "postgresql://h/db?table=t"),
        ("postgresql://h/db?PASSWORD=pw", "postgresql://h/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u@h/db"),
        ("postgresql://u:pa/ss@h/db", "postgresql://u@h/db"),
        ("postgresql://u:pa?ss@h/db?x=a@b", "postgresql://u@h/db?x=a@b"),
        ("postgresql://u:pa#ss@h/db", "postgresql://u@h/db"),
        (
            "postgresql://u@h/db?application_name=me@lab",
            "postgresql://u@h/db?application_name=me@lab",
        ),
        ("mysql://u:pw@h/db", "mysql://u@h/db"),
    ],
)
def test_redacted_takes_every_spelling_of_a_password(location: str, shown: str) -> None:
    assert redacted(location) == shown
    assert redacted(shown) == shown


def test_url_passwords_are_the_passwords_as_spelled() -> None:
    assert url_passwords("postgresql://u:p%40ss@h/db") == ("p%40ss", [])
    assert url_passwords("postgresql://u:p@ss@h/db?x=a@b") == ("p@ss", [])
    assert url_passwords("postgresql://u@h/db?password=x&pass%77ord=y&sslpassword=z") == (
        "",
        ["x", "y", "z"],
    )
    assert url_passwords("postgresql://u:pa?ss@h/db?table=t&PASSWORD=q") == ("pa?ss", ["q"])


def test_an_unknown_scheme_is_refused_without_the_password() -> None:
    password = secrets.token_hex(8)
    url = f"mysql://u:{password}@h/db"  # a traceback shows this line, not the value
    with pytest.raises(ValueError, match="knows no mysql:// stores") as error:
        stet.once(store=url, name="point")(lambda i: i)(1)
    assert not [t for t in error_texts(error.value) if password in t]


def test_a_store_given_as_bytes_is_refused_without_the_password() -> None:
    password = secrets.token_hex(8)
    url = f"postgresql://u:{password}@h/db".encode()
    with pytest.raises(TypeError, match="not bytes: 'postgresql://u@h/db'; decode it") as error:
        stet.once(store=url, name="point")(lambda i: i)  # type: ignore[call-overload]
    assert not [t for t in error_texts(error.value) if password in t]


@pytest.mark.parametrize("how", ["once", "status", "cli"])
def test_libpq_key_value_form_as_a_store_is_refused_without_the_password(
    how: str, workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """``host=db password=...`` is libpq's form, not a URL: stet refuses it as a path
    whose extension it does not know, and shows ``password=***``."""
    password = secrets.token_hex(8)
    location = f"host=db password={password} dbname=lab"
    seen = Seen(password)
    if how == "once":
        seen.call(how, lambda: stet.once(store=location, name="point")(lambda i: i)(1))
    elif how == "status":
        seen.call(how, lambda: stet.status(location))
    else:
        from stet.cli import main

        seen.call(how, lambda: main(["status", location]))
    out, err = capfd.readouterr()
    seen.add("output", out, err)
    assert "password=*** dbname=lab" in "".join(t for _, t in seen.texts)
    seen.check()
