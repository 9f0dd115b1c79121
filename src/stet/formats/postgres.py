"""The PostgreSQL format: a store as a table of a PostgreSQL database, shared by machines.

``store="postgresql://user:password@host:5432/dbname?table=runs"`` (or ``postgres://``).
``table=`` names the table: a plain identifier of at most 56 characters (quoted as
given, so ``Runs`` is a table psql must quote; lower case spares that), ``stet_runs``
when not given. Every other query parameter (``sslmode``, ``connect_timeout``, ...)
goes to libpq as given. Messages show the URL without its password.

Three tables per store, ``<t>`` being the table's name:

* ``<t>``: the records. ``_stet_row bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY``
  (the cursor; hidden from the header), then the key columns, ``_stet_timestamp
  timestamptz`` and ``_stet_function text``. A key column's type follows its values:
  ``bigint`` for ints, ``double precision`` for floats, ``text`` (stet's cell text)
  for anything else; a column is widened in place (``bigint`` -> ``double precision``
  -> ``text``) when a new value does not fit, and the text of a number reads back as the
  same number. A column with no value yet is ``text`` and takes the type of its first.
  NULL means the record has no value in that column.
* ``<t>_meta``: one row: ``generation`` (bumped by every rewrite: other processes then
  read the store again), ``layout`` (bumped by every change of columns) and ``owner``
  (the function whose records have no ``_stet_function``).
* ``<t>_claims``: the claims of runs running now, one row per (function, key), with its
  holder and ``expires``, a lease kept by the server's clock.

Every append and rewrite happens under the store's lock, a session advisory lock on the
format's connection, and is committed before the lock is released, so row ids appear
in order (a connection pooler must keep sessions: pgbouncer's session mode, not its
transaction mode). PostgreSQL commits durably (``synchronous_commit`` on): ``fsync=True``
asks for nothing more. Each process opens two connections per store: one for records
and the lock, one for claims (the heartbeat thread renews them while a call runs).

A lost connection raises :class:`StoreConnectionError`, whose message names the store
and what was not done (what the server did not confirm was not stored), and the next
call connects again; a read, or a claim, found on a broken connection outside the lock
is retried once on a fresh one.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import math
import os
import re
import threading
import weakref
from operator import itemgetter
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import TextLoader

from .._claims import Claim, Worker
from .._values import cell_of, cell_text_of
from .base import Chunk, DamagedStoreError, StoreConnectionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType
    from typing import Any, TypeAlias, TypeVar

    from .._values import Cell

    Connection: TypeAlias = psycopg.Connection[tuple[Any, ...]]
    T = TypeVar("T")

__all__ = ["DEFAULT_TABLE", "PostgresClaims", "PostgresSite", "PostgresTable", "display_name"]

DEFAULT_TABLE = "stet_runs"
ROW = "_stet_row"
TIMESTAMP = "_stet_timestamp"
FUNCTION = "_stet_function"
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_TABLE = 63 - len("_claims")  # PostgreSQL cuts identifiers at 63 bytes
_EXACT = 2**53
# libpq settings stet gives unless the URL does: a server or network that stops answering
# is noticed within about a minute (keepalives when idle, tcp_user_timeout when sending).
_CONNECT_DEFAULTS = {
    "connect_timeout": "10",
    "application_name": "stet",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",
}

# Type OIDs, and the kind of cell each column type holds.
_INT8, _FLOAT8, _TEXT, _TIMESTAMPTZ = 20, 701, 25, 1184
_INTS = frozenset({20, 21, 23})  # bigint, smallint, integer
_FLOATS = frozenset({700, 701})  # real, double precision
_TEXTS = frozenset({25, 1043, 1042, 19})  # text, varchar, char, name
_KIND_OF_OID = {_INT8: "int", _FLOAT8: "float", _TEXT: "text", _TIMESTAMPTZ: "time"}
_SQL_TYPE = {"int": "bigint", "float": "double precision", "text": "text", "time": "timestamptz"}
_WIDER = {"int": 0, "float": 1, "text": 2}

_SESSION = (
    "SELECT set_config('TimeZone', 'UTC', false),"  # timestamps read as UTC
    " set_config('extra_float_digits', '3', false),"  # floats as text: exact
    " set_config('jit', 'off', false)"  # compiling a read of 64k rows costs more than it saves
)

_abandoned: list[Connection] = []  # inherited over fork: never used, never closed
_links: weakref.WeakSet[_Link] = weakref.WeakSet()  # closed at exit


# ------------------------------------------------------------------------ the location


def display_name(location: str) -> str:
    """The store's URL as messages show it: without its password."""
    parts = urlsplit(location)
    userinfo, at, hostinfo = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}@{hostinfo}" if at else parts.netloc
    query = "&".join(p for p in parts.query.split("&") if _parameter(p) != "password")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _parameter(segment: str) -> str:
    return unquote(segment.partition("=")[0]).strip().lower()


def _split(location: str, name: str) -> tuple[str, str]:
    """The connection string for libpq (``table=`` taken out) and the table's name."""
    parts = urlsplit(location)
    segments = [p for p in parts.query.split("&") if p]
    tables = [unquote(p.partition("=")[2]) for p in segments if _parameter(p) == "table"]
    if len(tables) > 1:
        raise ValueError(
            f"the store {name} names its table {len(tables)} times (table=); give one table="
        )
    table = tables[0] if tables else DEFAULT_TABLE
    if not _TABLE_NAME.fullmatch(table) or len(table) > _MAX_TABLE:
        raise ValueError(
            f"stet cannot use table={table!r} in the store {name}: a table name must be a "
            f"plain identifier (letters, digits and _, not starting with a digit, at most "
            f"{_MAX_TABLE} characters), such as ?table=runs. Choose one like that."
        )
    query = "&".join(p for p in segments if _parameter(p) != "table")
    return urlunsplit(parts._replace(query=query)), table


def _lock_key(table: str) -> int:
    """The advisory lock's bigint for a store's table."""
    digest = hashlib.blake2b(f"stet:{table}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# ------------------------------------------------------------------------ connections


class _Link:
    """One connection to the server: opened on first use, made anew after a fork or a loss.

    ``pinned`` is set while the store's lock is held on this connection: a connection
    lost then is not replaced until the lock is let go, as the lock died with it.
    """

    def __init__(self, conninfo: str, name: str, secrets: Sequence[str]) -> None:
        self.conninfo = conninfo
        self.name = name
        self._secrets = [s for s in secrets if len(s) >= 3]
        self._con: Connection | None = None
        self._pid = 0
        self.pinned = False
        _links.add(self)

    def connection(self, doing: str, failed: str) -> Connection:
        """The open connection, or a new one."""
        con = self.current()
        if con is not None:
            return con
        if self.pinned:
            raise StoreConnectionError(
                f"stet lost its connection to {self.name}, and the store's lock with it, "
                f"while {doing}; {failed}. stet connects again on the next call."
            )
        self.drop()
        try:
            con = psycopg.connect(self.conninfo, autocommit=True)
            con.execute(_SESSION)
            con.adapters.register_loader(_TIMESTAMPTZ, TextLoader)  # made stet's text in bulk
        except psycopg.Error as error:
            raise StoreConnectionError(
                f"stet cannot connect to {self.name} ({self.scrub(error)}) while {doing}; "
                f"{failed}. Check the URL, the password and that the server runs."
            ) from None
        self._con, self._pid = con, os.getpid()
        return con

    def current(self) -> Connection | None:
        """The open connection of this process, if there is one (nothing is opened)."""
        con = self._con
        if con is None or self._pid != os.getpid() or con.closed or con.broken:
            return None
        return con

    def run(
        self, work: Callable[[Connection], T], doing: str, failed: str, *, retry: bool = False
    ) -> T:
        """``work(connection)``; a lost connection raises StoreConnectionError.

        With ``retry`` (work that changes nothing, or may be done twice), a connection
        found broken outside the lock is replaced and ``work`` tried once more.
        """
        for attempt in range(2):
            fresh = self._con is None or self._pid != os.getpid()
            con = self.connection(doing, failed)
            try:
                return work(con)
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                broken = con.closed or con.broken
                if broken:
                    self.drop()
                if retry and broken and not fresh and not self.pinned and attempt == 0:
                    continue
                raise StoreConnectionError(
                    f"the connection to {self.name} failed while {doing} "
                    f"({self.scrub(error)}); {failed}. stet connects again on the next call."
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def scrub(self, error: BaseException) -> str:
        """An error's text on one line, without the password."""
        text = " ".join(str(error).split())
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def drop(self) -> None:
        """Forget the connection: close it if it is this process's, else leave it be."""
        con, self._con = self._con, None
        if con is None:
            return
        if self._pid != os.getpid():
            _abandoned.append(con)  # the parent's: closing it would end the parent's session
            return
        with contextlib.suppress(psycopg.Error):
            con.close()

    def after_fork(self) -> None:
        if self._con is not None and self._pid != os.getpid():
            _abandoned.append(self._con)
            self._con = None
        self.pinned = False


@atexit.register
def _close_all() -> None:
    for link in list(_links):
        if not link.pinned:
            link.drop()


def _secrets_of(location: str, conninfo: str, name: str) -> list[str]:
    """The password as the URL spells it and as libpq reads it."""
    try:
        password = str(conninfo_to_dict(conninfo).get("password") or "")
    except psycopg.Error:
        raise ValueError(
            f"stet cannot read the store URL {name}; the form is "
            "postgresql://user:password@host:5432/dbname?table=runs"
        ) from None
    spelled = urlsplit(location).password or ""
    return [s for s in {password, spelled, quote(password, safe="")} if s]


# ------------------------------------------------------------------------ the format


class PostgresTable:
    """A store kept in a table of a PostgreSQL database (see the module's docstring)."""

    def __init__(self, path: str, name: str) -> None:
        self.name = display_name(name) if "://" in name else name
        conninfo, self.table = _split(path, self.name)
        secrets = _secrets_of(path, conninfo, self.name)
        present = conninfo_to_dict(conninfo)
        defaults = {k: v for k, v in _CONNECT_DEFAULTS.items() if k not in present}
        conninfo = make_conninfo(conninfo, **defaults)
        self._link = _Link(conninfo, self.name, secrets)
        self._sql = _Statements(self.table)
        self._generation = -1  # the generation at the last read from 0
        self._layout = -1  # the layout ``_kinds`` describes
        self._kinds: dict[str, str] | None = None  # column -> int/float/text/time/other
        self._filled: set[str] = set()  # text columns known to hold a value
        self._inserts: dict[tuple[str, ...], str] = {}
        self.site = PostgresSite(self, _Link(conninfo, self.name, secrets))

    def __repr__(self) -> str:
        return f"PostgresTable({self.name!r})"

    def _run(
        self, work: Callable[[Connection], T], doing: str, failed: str, *, retry: bool = False
    ) -> T:
        return self._link.run(work, doing, failed, retry=retry)

    # -- reading

    def exists(self) -> bool:
        """Whether the table exists."""

        def work(con: Connection) -> bool:
            return con.execute(self._sql.exists).fetchone() == (True,)

        return self._run(work, "looking for its table", "nothing was read", retry=True)

    def end_if_same(self) -> int | None:
        """The last row id, or None when the table was rewritten or removed (one query)."""

        def work(con: Connection) -> int | None:
            try:
                row = con.execute(self._sql.end).fetchone()
            except errors.UndefinedTable:
                return None
            if row is None or row[0] != self._generation:
                return None
            if row[1] != self._layout:
                self._kinds = None  # columns were added or widened: look again when writing
            return int(row[2] or 0)

        return self._run(work, "reading", "nothing was read", retry=True)

    def read_from(
        self, cursor: int, header: Sequence[str], first_line: int, limit: int | None = None
    ) -> Chunk:
        """The rows after row id ``cursor``; with ``limit``, about ``limit // 64`` of them."""
        count = None if limit is None else max(1, limit // 64)

        def work(con: Connection) -> Chunk:
            for _ in range(3):
                try:
                    return self._read(con, cursor, list(header), first_line, count)
                except errors.UndefinedTable:
                    if con.execute(self._sql.exists).fetchone() != (True,):
                        return Chunk([])
                    self.site.create_companions(con)  # a table without its meta table
            raise AssertionError("unreachable")  # pragma: no cover

        return self._run(work, "reading", "nothing was read", retry=True)

    def _read(
        self, con: Connection, cursor: int, header: list[str], first_line: int, count: int | None
    ) -> Chunk:
        """One query, one snapshot: the generation, the layout, the columns and the rows."""
        try:
            cur = con.execute(self._sql.read, (cursor, count), prepare=False)
        except errors.UndefinedColumn:
            raise self._foreign() from None
        assert cur.description is not None
        described = cur.description[2:]  # after the generation and the layout
        names = [d.name for d in described]
        at = names.index(ROW) + 2
        fetched = cur.fetchall()
        generation, layout = (int(fetched[0][0]), int(fetched[0][1])) if fetched else (0, 0)
        if cursor == 0:
            self._generation = generation
        elif generation != self._generation:  # rewritten since the read from 0: say so
            return Chunk(header, end=cursor, first_line=first_line)
        self._learn_kinds(layout, names, [d.type_code for d in described])
        keep = [i for i in range(2, len(names) + 2) if i != at]
        columns = [cur.description[i] for i in keep]
        header = [d.name for d in columns]
        if not fetched or fetched[0][at] is None:  # no row: one row of NULLs, or none
            return Chunk(header, end=cursor, first_line=first_line)
        cells = [
            _cells(list(map(itemgetter(i), fetched)), d.type_code, d.name, self.name)
            for i, d in zip(keep, columns, strict=True)
        ]
        return Chunk(header, cells, len(fetched), int(fetched[-1][at]), first_line=first_line)

    def _learn_kinds(self, layout: int, names: list[str], oids: list[int]) -> None:
        self._kinds = {
            n: _KIND_OF_OID.get(oid, "other") for n, oid in zip(names, oids, strict=True)
        }
        self._layout = layout

    def _foreign(self) -> DamagedStoreError:
        return DamagedStoreError(
            f"{self.name}: the table {self.table} has no {ROW} column, so stet did not make "
            f"it and it is not a stet store. Use another table= in the URL; stet changed nothing."
        )

    def parse_tail(self, chunk: Chunk) -> Chunk | None:
        return None  # every commit is whole

    def finish_tail(self, chunk: Chunk) -> None:
        pass

    def cut(self, cursor: int) -> None:
        pass

    # -- writing (under the store's lock)

    def _column_kinds(self, con: Connection) -> dict[str, str]:
        """Each column's kind of cell, as the catalog says now."""
        if self._kinds is None:
            row = con.execute(self._sql.columns).fetchone()
            if row is None or row[1] is None:
                raise self._missing()
            names, oids = row[1], row[2]
            self._learn_kinds(int(row[0]), list(names), list(oids))
            assert self._kinds is not None
            if ROW not in self._kinds:
                raise self._foreign()
        return self._kinds

    def _missing(self) -> FileNotFoundError:
        return FileNotFoundError(2, "No stet store at this URL (its table is missing)", self.name)

    def append(self, header: Sequence[str], values: dict[str, Cell], *, fsync: bool) -> int:
        """Insert one record and commit it; returns its row id.

        Every commit is durable (``synchronous_commit`` on), so ``fsync`` asks nothing more.
        """
        names = tuple(c for c in header if values.get(c, "") != "")

        def work(con: Connection) -> int:
            params = self._fit(con, names, values)
            row = con.execute(self._insert(names), params).fetchone()
            assert row is not None
            return int(row[0])

        return self._run(work, "recording a run", "the run was not recorded")

    def _insert(self, names: tuple[str, ...]) -> str:
        query = self._inserts.get(names)
        if query is None:
            query = self._inserts[names] = (
                sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}")
                .format(
                    sql.Identifier(self.table),
                    sql.SQL(", ").join(map(sql.Identifier, names)),
                    sql.SQL(", ").join([sql.Placeholder()] * len(names)),
                    sql.Identifier(ROW),
                )
                .as_string(None)
            )
        return query

    def _fit(self, con: Connection, names: Sequence[str], values: dict[str, Cell]) -> list[Any]:
        """The record's parameters, each as its column's type; columns widened as needed."""
        kinds = self._column_kinds(con)
        if any(self._need(values[c], kinds.get(c), c) for c in names):
            self._kinds = None  # another process may have changed the columns already
            kinds = self._column_kinds(con)
            needs = {c: n for c in names if (n := self._need(values[c], kinds.get(c), c))}
            if needs:
                self._widen(con, needs)
                kinds = self._column_kinds(con)
        return [_param(values[c], kinds[c]) for c in names]

    def _need(self, cell: Cell, kind: str | None, column: str) -> str | None:
        """The kind ``column`` must become to hold ``cell``; None when it holds it already."""
        if kind is None:
            return "time" if column == TIMESTAMP else "text"  # not there (yet): add it
        if kind == "text":  # a number in a text column: a column with no value takes its type
            return None if type(cell) is str or column in self._filled else _kind(cell)
        if kind in ("int", "float"):
            need = _kind(cell)
            return None if _WIDER[kind] >= _WIDER[need] else need
        return None  # a timestamp, or a type stet did not make: PostgreSQL converts

    def _widen(self, con: Connection, needs: dict[str, str]) -> None:
        """Make each column hold its new value: a column with no value takes the value's
        type, any other becomes wider (bigint -> double precision -> text)."""
        kinds = self._column_kinds(con)
        with con.transaction():
            for column, need in needs.items():
                have = kinds.get(column)
                if have is None:
                    self._add(con, column)
                    have = "time" if column == TIMESTAMP else "text"
                    if have == need:
                        continue
                elif have == "text" and self._holds_values(con, column):
                    self._filled.add(column)
                    continue  # the number goes in as its text
                if have == "text":  # no value yet
                    if need != "text":
                        self._retype(con, column, need, keep=False)
                    continue
                if need == "float" and self._too_big_for_float(con, column):
                    need = "text"
                self._retype(con, column, need, keep=True)
            con.execute(self._sql.bump_layout)
        self._kinds = None

    def _holds_values(self, con: Connection, column: str) -> bool:
        query = sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE {} IS NOT NULL)").format(
            sql.Identifier(self.table), sql.Identifier(column)
        )
        return con.execute(query).fetchone() == (True,)

    def _too_big_for_float(self, con: Connection, column: str) -> bool:
        query = sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE abs({}) >= {})").format(
            sql.Identifier(self.table), sql.Identifier(column), sql.Literal(_EXACT)
        )
        return con.execute(query).fetchone() == (True,)

    def _retype(self, con: Connection, column: str, kind: str, *, keep: bool) -> None:
        """Change a column's type, converting its values (``keep``) or not (it has none)."""
        name, to = sql.Identifier(column), sql.SQL(_SQL_TYPE[kind])
        value = sql.SQL("{}::{}").format(name, to) if keep else sql.SQL("NULL::{}").format(to)
        con.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}").format(
                sql.Identifier(self.table), name, to, value
            )
        )
        if kind == "text" and keep:
            self._filled.add(column)

    def _add(self, con: Connection, column: str) -> None:
        """A new column: a timestamp, or one whose type its first value chooses."""
        kind = "time" if column == TIMESTAMP else "text"
        con.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                sql.Identifier(self.table),
                sql.Identifier(_column_name(column)),
                sql.SQL(_SQL_TYPE[kind]),
            )
        )

    def add_columns(self, header: Sequence[str]) -> bool:
        """Add the columns of ``header`` the table lacks (without a type yet: ``text``)."""

        def work(con: Connection) -> bool:
            self._kinds = None
            kinds = self._column_kinds(con)
            missing = [c for c in header if c not in kinds]
            if missing:
                with con.transaction():
                    for column in missing:
                        self._add(con, column)
                    con.execute(self._sql.bump_layout)
                self._kinds = None
            return True

        return self._run(work, "adding columns", "no column was added")

    def rewrite(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        """Replace the table's rows and columns in one transaction (COPY) and bump the
        generation, so that every other process reads the store again."""
        header = [_column_name(c) for c in header]
        columns = [list(map(itemgetter(i), rows)) for i in range(len(header))]
        kinds = [_kind_of(c, cells) for c, cells in zip(header, columns, strict=True)]
        if any(k == "text" and _has_nul(cells) for k, cells in zip(kinds, columns, strict=True)):
            rows = [[_text(c) if type(c) is str else c for c in row] for row in rows]

        def work(con: Connection) -> None:
            with con.transaction():
                self.site.create_companions(con)
                self._fill(con, header, kinds, rows)
                con.execute(
                    sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                        sql.Identifier(self.table), sql.Identifier(ROW)
                    )
                )  # after the rows: one sorted build, not a million inserts
                con.execute(self._sql.bump_generation)
            self._kinds = None
            self._filled = {
                c
                for c, kind, cells in zip(header, kinds, columns, strict=True)
                if kind == "text" and any(cell != "" for cell in cells)
            }

        self._run(work, "rewriting the store", "the store was left as it was")

    def _fill(
        self, con: Connection, header: list[str], kinds: list[str], rows: Sequence[Sequence[Cell]]
    ) -> None:
        """The table emptied and filled with ``rows``; timestamps that PostgreSQL cannot
        read (a store written by hand) are kept as text instead."""
        try:
            with con.transaction():  # a savepoint
                self._empty_table(con, header, kinds)
                self._copy(con, header, rows)
        except errors.DataError:
            if TIMESTAMP not in header or kinds[header.index(TIMESTAMP)] != "time":
                raise
            kinds[header.index(TIMESTAMP)] = "text"
            self._empty_table(con, header, kinds)
            self._copy(con, header, rows)

    def _empty_table(self, con: Connection, header: list[str], kinds: list[str]) -> None:
        """An empty table with these columns and no primary key yet: the same table
        emptied (views on it keep working), or a new one."""
        row = con.execute(self._sql.columns).fetchone()
        existing = list(row[1]) if row is not None and row[1] is not None else None
        if existing is not None and ROW not in existing:
            raise self._foreign()
        table = sql.Identifier(self.table)
        if existing == [ROW, *header]:
            assert row is not None
            con.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(table))
            for (name,) in con.execute(self._sql.primary_key).fetchall():
                con.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(name))
                )
            have = dict(zip(existing, row[2], strict=True))
            for column, kind in zip(header, kinds, strict=True):
                if _KIND_OF_OID.get(have[column]) != kind:
                    self._retype(con, column, kind, keep=False)
            return
        con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        declared = [
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(_SQL_TYPE[k]))
            for c, k in zip(header, kinds, strict=True)
        ]
        con.execute(
            sql.SQL("CREATE TABLE {} ({} bigint GENERATED ALWAYS AS IDENTITY, {})").format(
                table, sql.Identifier(ROW), sql.SQL(", ").join(declared)
            )
        )

    def _copy(self, con: Connection, header: list[str], rows: Sequence[Sequence[Cell]]) -> None:
        """COPY the rows in; an empty cell (``""``) is NULL."""
        query = sql.SQL("COPY {} ({}) FROM STDIN (NULL '')").format(
            sql.Identifier(self.table), sql.SQL(", ").join(map(sql.Identifier, header))
        )
        if not rows:
            return
        with con.cursor() as cur, cur.copy(query) as copy:
            for row in rows:
                copy.write_row(row)

    def settle(self) -> None:
        """Nothing is deferred: every record is committed when it is appended."""

    def close(self) -> None:
        """Close the connections (not the one the store's lock is held on)."""
        if not self._link.pinned:
            self._link.drop()
        self.site.claims.close()

    def after_fork(self) -> None:
        self._link.after_fork()


class _Statements:
    """The SQL of one store, composed once."""

    def __init__(self, table: str) -> None:
        t = sql.Identifier(table)
        meta = sql.Identifier(f"{table}_meta")
        row = sql.Identifier(ROW)
        quoted = sql.Literal(sql.Identifier(table).as_string(None))

        def text(query: sql.Composable) -> str:
            return query.as_string(None)

        self.exists = text(sql.SQL("SELECT to_regclass({}) IS NOT NULL").format(quoted))
        self.end = text(
            sql.SQL("SELECT generation, layout, (SELECT max({}) FROM {}) FROM {}").format(
                row, t, meta
            )
        )
        self.read = text(
            sql.SQL(
                "SELECT m.generation, m.layout, r.* FROM {} m LEFT JOIN LATERAL "
                "(SELECT * FROM {} WHERE {} > %s ORDER BY {} LIMIT %s) r ON true"
            ).format(meta, t, row, row)
        )
        # The row id is the first column of a table stet made: r.* starts with it.
        self.columns = text(
            sql.SQL(
                "SELECT (SELECT layout FROM {}), array_agg(attname::text ORDER BY attnum),"
                " array_agg(atttypid::int ORDER BY attnum) FROM pg_attribute"
                " WHERE attrelid = to_regclass({}) AND attnum > 0 AND NOT attisdropped"
            ).format(meta, quoted)
        )
        self.primary_key = text(
            sql.SQL(
                "SELECT conname::text FROM pg_constraint WHERE conrelid = to_regclass({})"
                " AND contype = 'p'"
            ).format(quoted)
        )
        self.bump_layout = text(sql.SQL("UPDATE {} SET layout = layout + 1").format(meta))
        self.bump_generation = text(
            sql.SQL("UPDATE {} SET generation = generation + 1, layout = layout + 1").format(meta)
        )


def _column_name(column: str) -> str:
    """A column's name, refused when PostgreSQL would cut it."""
    if len(column.encode("utf-8", "surrogatepass")) > 63:
        raise ValueError(
            f"a PostgreSQL store cannot have a column named {column!r}: PostgreSQL cuts "
            "names at 63 bytes. Rename that parameter."
        )
    return column


# ------------------------------------------------------------------------ cells and types


def _cells(values: list[Any], oid: int, column: str, name: str) -> list[Cell]:
    """One column's values as cells: NULL is ``""``; numbers outside stet's range, text."""
    if None in values:
        present = [v for v in values if v is not None]
        if not present:
            return [""] * len(values)
        it = iter(_cells(present, oid, column, name))
        return ["" if v is None else next(it) for v in values]
    if oid in _TEXTS:
        return values
    if oid in _INTS and min(values) > -_EXACT and max(values) < _EXACT:
        return values
    if oid in _FLOATS:
        floats = list(map(float, values))
        return list(floats) if all(map(math.isfinite, floats)) else list(map(cell_of, floats))
    if oid == _TIMESTAMPTZ:  # ``2026-03-12 11:48:59.428485+00``, read as text
        return [f"{v[:10]}T{v[11:26]}+00:00" if len(v) == 29 else _stamp(v) for v in values]
    return [_cell(v, column, name) for v in values]


def _stamp(text: str) -> str:
    """PostgreSQL's text of a UTC time as stet writes it (``...T11:48:59.428400+00:00``)."""
    day, _, clock = text.partition(" ")
    if not clock.endswith("+00"):
        return text  # a time before the year 1 (BC): as PostgreSQL shows it
    second, _, fraction = clock[:-3].partition(".")
    return f"{day}T{second}.{fraction:0<6}+00:00"


def _cell(value: Any, column: str, name: str) -> Cell:
    """A value of a column type stet does not make (a table changed by hand)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        raise DamagedStoreError(
            f"{name} is damaged: its column {column} holds bytes, and stet stores numbers "
            "and text only. Change or delete that value; stet changed nothing."
        )
    if isinstance(value, bool | int | float):
        return cell_of(value)
    if isinstance(value, str):
        return value
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat() if isoformat is not None else value)


def _kind_of(column: str, cells: list[Cell]) -> str:
    """The kind a rewritten column takes from its cells."""
    if column == TIMESTAMP:
        return "time"
    if column == FUNCTION:
        return "text"
    kinds = set(map(type, cells))
    if str in kinds and any(c != "" for c in cells if type(c) is str):
        return "text"
    kinds.discard(str)
    if not kinds:
        return "text"  # no value yet: the first one chooses
    return "int" if kinds == {int} else "float"


def _has_nul(cells: Sequence[Cell]) -> bool:
    return any("\x00" in c for c in cells if type(c) is str)


def _text(cell: Cell) -> str:
    """A cell as text; a text holding NUL (which PostgreSQL cannot keep) as its literal."""
    if type(cell) is not str:
        return cell_text_of(cell)
    return repr(cell) if "\x00" in cell else cell


def _kind(cell: Cell) -> str:
    kind = type(cell)
    return "int" if kind is int else "float" if kind is float else "text"


def _param(cell: Cell, kind: str) -> Any:
    """A cell as its column's type takes it."""
    if kind == "text":
        return _text(cell)
    if kind == "float" and type(cell) is int:
        return float(cell)
    return cell


# ------------------------------------------------------------------------ the site


class AdvisoryLock:
    """The store's lock: a session advisory lock on the format's connection, reentrant.

    It lives as long as that connection: when the connection is lost, so is the lock, and
    the connection is not replaced until the lock is let go (the depth returns to 0).
    """

    def __init__(self, link: _Link, table: str) -> None:
        self._link = link
        self._key = _lock_key(table)
        self._depth = 0
        self._held_on: Connection | None = None

    def __enter__(self) -> None:
        if self._depth == 0:
            doing, failed = "taking the store's lock", "nothing was recorded or changed"
            try:
                self._link.run(self._acquire, doing, failed, retry=True)
            except BaseException:
                self._forget()  # an interrupt may have come as the lock was granted
                raise
            self._link.pinned = True
        self._depth += 1

    def _acquire(self, con: Connection) -> None:
        con.execute("SELECT pg_advisory_lock(%s)", (self._key,))
        self._held_on = con

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth:
            return
        self._link.pinned = False
        con, self._held_on = self._held_on, None
        if con is None or con is not self._link.current():
            return  # the lock ended with its connection
        try:
            con.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        except BaseException as failure:
            self._forget()  # closing the connection lets go of the lock for certain
            if not isinstance(failure, psycopg.Error):
                raise  # an interrupt: it goes on

    def _forget(self) -> None:
        """Close the connection the lock may be held on: the server lets go of it."""
        self._held_on = None
        self._link.pinned = False
        self._link.drop()

    def after_fork(self) -> None:
        self._depth = 0  # the parent's lock is the parent's
        self._held_on = None
        self._link.after_fork()


class PostgresSite:
    """What the store has beside its rows: the lock, the owner and the claims."""

    def __init__(self, table: PostgresTable, claims_link: _Link) -> None:
        self._table = table
        self.name = table.name
        self.lock = AdvisoryLock(table._link, table.table)
        self.claims = PostgresClaims(claims_link, table.table, self)
        names = table.table
        self._meta = sql.Identifier(f"{names}_meta")
        self._claims = sql.Identifier(f"{names}_claims")

    def create_companions(self, con: Connection) -> None:
        """Make the meta and claims tables, once, whichever process comes first.

        No lock is taken (the claims connection must never wait for the lock this process
        may hold): two processes creating a table at once make one fail, and it looks again.
        """
        for attempt in range(3):
            try:
                with con.transaction():  # a savepoint, within a rewrite's transaction
                    self._create_companions(con)
                return
            except (errors.UniqueViolation, errors.DuplicateTable, errors.DuplicateObject):
                if attempt == 2:
                    raise

    def _create_companions(self, con: Connection) -> None:
        con.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id integer PRIMARY KEY DEFAULT 1 CHECK"
                " (id = 1), generation bigint NOT NULL DEFAULT 0,"
                " layout bigint NOT NULL DEFAULT 0, owner text)"
            ).format(self._meta)
        )
        con.execute(
            sql.SQL("INSERT INTO {} (id) VALUES (1) ON CONFLICT DO NOTHING").format(self._meta)
        )
        con.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (function text NOT NULL, key bytea NOT NULL,"
                " call text NOT NULL, host text NOT NULL, pid bigint NOT NULL,"
                " machine text NOT NULL, start bigint NOT NULL, worker text NOT NULL,"
                " lease double precision NOT NULL, expires timestamptz NOT NULL,"
                " PRIMARY KEY (function, key))"
            ).format(self._claims)
        )

    def _run(
        self, work: Callable[[Connection], T], doing: str, failed: str, *, retry: bool = True
    ) -> T:
        return self._table._link.run(work, doing, failed, retry=retry)

    def prepare(self) -> None:
        """Make the meta and claims tables (and find out early that the server answers)."""

        def work(con: Connection) -> None:
            present = con.execute(
                "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
                (self._meta.as_string(None), self._claims.as_string(None)),
            ).fetchone()
            if present != (True,):
                self.create_companions(con)

        self._run(work, "opening the store", "nothing was written")

    def read_owner(self) -> str | None:
        def work(con: Connection) -> str | None:
            try:
                row = con.execute(sql.SQL("SELECT owner FROM {}").format(self._meta)).fetchone()
            except errors.UndefinedTable:
                return None
            return None if row is None else row[0]

        return self._run(work, "reading the store's owner", "nothing was read")

    def write_owner(self, function: str) -> None:
        def work(con: Connection) -> None:
            self.create_companions(con)
            con.execute(sql.SQL("UPDATE {} SET owner = %s").format(self._meta), (function,))

        self._run(work, "naming the store's owner", "the owner was not written")

    def remove_owner(self) -> None:
        def work(con: Connection) -> None:
            with contextlib.suppress(errors.UndefinedTable):
                con.execute(sql.SQL("UPDATE {} SET owner = NULL").format(self._meta))

        self._run(work, "removing the store's owner", "the owner was kept")

    def set_aside(self, tail: bytes) -> str:
        raise AssertionError("a PostgreSQL store has no torn tail: every commit is whole")

    def tidy(self) -> None:
        """Nothing to tidy: a released claim is a deleted row."""

    def after_fork(self) -> None:
        self.lock.after_fork()
        self.claims.after_fork()


# ------------------------------------------------------------------------ claims


_HOLDER_FIELDS = "function, key, call, host, pid, machine, start, worker, lease"


class PostgresClaims:
    """The claims of a store as rows of ``<table>_claims``; leases by the server's clock.

    A claim is taken by one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` (the lapsed
    or abandoned claim of another worker is replaced in the same statement), so two
    workers never both hold a run. The book has its own connection: the heartbeat thread
    renews through it while the main thread reads and writes records.
    """

    def __init__(self, link: _Link, table: str, site: PostgresSite) -> None:
        self._link = link
        self._site = site
        self._mutex = threading.Lock()
        claims = sql.Identifier(f"{table}_claims")
        fields = sql.SQL(_HOLDER_FIELDS)

        def text(query: sql.Composable) -> str:
            return query.as_string(None)

        # One round trip: our claim, or its live holder's. A live holder (seen in the
        # statement's snapshot) is not even tried, so a busy run costs no row lock; a lapsed
        # or gone one is replaced by the INSERT, judged again on the row as it is then.
        self._take = text(
            sql.SQL(
                "WITH held AS (SELECT {1}, expires < now() AS lapsed FROM {0}"
                " WHERE function = %(function)s AND key = %(key)s),"
                " mine AS (INSERT INTO {0} AS claimed ({1}, expires)"
                " SELECT %(function)s, %(key)s, %(call)s, %(host)s, %(pid)s, %(machine)s,"
                " %(start)s, %(worker)s, %(lease)s, now() + %(lease)s * interval '1 second'"
                " WHERE NOT EXISTS (SELECT FROM held WHERE NOT lapsed"
                " AND worker <> %(worker)s AND worker <> ALL(%(gone)s::text[]))"
                " ON CONFLICT (function, key) DO UPDATE SET call = excluded.call,"
                " host = excluded.host, pid = excluded.pid, machine = excluded.machine,"
                " start = excluded.start, worker = excluded.worker, lease = excluded.lease,"
                " expires = excluded.expires WHERE claimed.expires < now()"
                " OR claimed.worker = excluded.worker OR claimed.worker = ANY(%(gone)s::text[])"
                " RETURNING true)"
                " SELECT true, NULL::text, NULL::bytea, NULL::text, NULL::text, NULL::bigint,"
                " NULL::text, NULL::bigint, NULL::text, NULL::double precision, false FROM mine"
                " UNION ALL SELECT false, {1}, lapsed FROM held WHERE NOT EXISTS (SELECT FROM mine)"
            ).format(claims, fields)
        )
        self._renew = text(
            sql.SQL(
                "WITH wanted AS (SELECT * FROM unnest(%s::text[], %s::bytea[], %s::text[])"
                " AS w(function, key, worker)), renewed AS (UPDATE {0} held SET expires ="
                " now() + held.lease * interval '1 second' FROM wanted w WHERE"
                " held.function = w.function AND held.key = w.key AND held.worker = w.worker"
                " RETURNING true) SELECT w.function, w.key FROM wanted w JOIN {0} held ON"
                " held.function = w.function AND held.key = w.key AND held.worker <> w.worker"
            ).format(claims)
        )
        self._release = text(
            sql.SQL("DELETE FROM {} WHERE function = %s AND key = %s AND worker = %s").format(
                claims
            )
        )
        self._running = text(
            sql.SQL("SELECT {1} FROM {0} WHERE expires >= now()").format(claims, fields)
        )

    def _run(self, work: Callable[[Connection], T], doing: str, failed: str) -> T:
        """``work`` on the book's connection; a missing claims table is made first."""

        def guarded(con: Connection) -> T:
            try:
                return work(con)
            except errors.UndefinedTable:
                self._site.create_companions(con)
                return work(con)

        with self._mutex:
            return self._link.run(guarded, doing, failed, retry=True)  # each may be done twice

    def take(self, claim: Claim) -> Claim | None:
        """Claim a run: None when it is now ours, else the live claim of its holder."""
        params = _fields(claim)

        def work(con: Connection) -> Claim | None:
            holder: Claim | None = None
            params["gone"] = []
            for _ in range(10):
                row = con.execute(self._take, params).fetchone()
                if row is not None and row[0]:
                    claim.handle = claim.worker.token
                    return None
                if row is None or row[-1]:
                    continue  # released, lapsed or just taken meanwhile: try again
                holder = _claim(row[1:])
                if not holder.holder_is_gone():
                    return holder
                params["gone"] = [holder.worker.token]
            return holder  # pragma: no cover - ten races in a row

        return self._run(work, f"claiming {_call(claim)}", "the run was not claimed")

    def renew(self, claims: Sequence[Claim]) -> list[Claim]:
        """Extend our claims; returns the ones another worker holds now."""
        if not claims:
            return []
        mine = {(c.function, c.key): c for c in claims}

        def work(con: Connection) -> list[Claim]:
            rows = con.execute(
                self._renew,
                (
                    [c.function for c in claims],
                    [c.key for c in claims],
                    [c.worker.token for c in claims],
                ),
            ).fetchall()
            return [mine[(function, bytes(key))] for function, key in rows]

        return self._run(work, "renewing claims", "they were not renewed")

    def release(self, claim: Claim) -> None:
        """Drop our claim, if it is still ours."""

        def work(con: Connection) -> None:
            con.execute(self._release, (claim.function, claim.key, claim.worker.token))

        self._run(work, f"releasing the claim on {_call(claim)}", "it lapses with its lease")
        claim.handle = None

    def running(self) -> list[Claim]:
        """Every live claim, of any worker."""

        def work(con: Connection) -> list[Claim]:
            return [_claim(row) for row in con.execute(self._running).fetchall()]

        claims = self._run(work, "reading the running claims", "nothing was read")
        return [c for c in claims if not c.holder_is_gone()]

    def close(self) -> None:
        with self._mutex:
            self._link.drop()

    def after_fork(self) -> None:
        self._mutex = threading.Lock()  # the heartbeat thread did not survive the fork
        self._link.after_fork()


def _fields(claim: Claim) -> dict[str, Any]:
    worker = claim.worker
    return {
        "function": claim.function,
        "key": claim.key,
        "call": _printable(claim.call),
        "host": _printable(worker.host),
        "pid": worker.pid,
        "machine": worker.machine,
        "start": worker.start,
        "worker": worker.token,
        "lease": claim.lease,
    }


def _printable(text: str) -> str:
    """Text PostgreSQL keeps: no NUL, no lone surrogate."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _claim(row: Sequence[Any]) -> Claim:
    function, key, call, host, pid, machine, start, token, lease = row[:9]
    worker = Worker(host, int(pid), machine, int(start), token)
    return Claim(function, bytes(key), call, worker, float(lease))


def _call(claim: Claim) -> str:
    return claim.call if len(claim.call) <= 80 else claim.call[:77] + "..."
