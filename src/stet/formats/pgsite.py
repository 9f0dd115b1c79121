"""What a PostgreSQL store has beside its rows: its lock, its owner and its claims.

The lock is a session advisory lock on the format's connection; the owner (and each
function's code history, in a ``history`` column added when first written) is kept in
``<table>_meta``; the claims are rows of ``<table>_claims`` on a connection of their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading

import psycopg
from psycopg import errors, sql

from .._claims import Claim, Worker
from .._lock import waiting

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType
    from typing import Any, TypeVar

    from .._provenance import History
    from .pglink import Connection, _Link
    from .postgres import PostgresTable

    T = TypeVar("T")

__all__ = ["PostgresClaims", "PostgresSite"]


# ------------------------------------------------------------------------ the site


def _lock_key(table: str) -> int:
    """The advisory lock's bigint for a store's table."""
    digest = hashlib.blake2b(f"stet:{table}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


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
        row = con.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        if row is None or not row[0]:  # another session holds it: wait, said if long
            with waiting(self._link.name):
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
            with (
                contextlib.suppress(errors.UndefinedTable, errors.UndefinedColumn),
                con.transaction(),  # a savepoint: a store from before has no history
            ):
                con.execute(sql.SQL("UPDATE {} SET history = NULL").format(self._meta))

        self._run(work, "removing the store's owner", "the owner was kept")

    def read_history(self) -> History:
        """Each function's code history (``stet._provenance``), kept as JSON text in
        the meta table's ``history`` column; {} when none is kept."""

        def work(con: Connection) -> str | None:
            try:
                with con.transaction():
                    row = con.execute(
                        sql.SQL("SELECT history FROM {}").format(self._meta)
                    ).fetchone()
            except (errors.UndefinedTable, errors.UndefinedColumn):
                return None
            return None if row is None else row[0]

        text = self._run(work, "reading the store's code history", "nothing was read")
        try:
            history = json.loads(text) if text else {}
        except ValueError:
            return {}  # a damaged history is only a lost note: the records stand
        return history if isinstance(history, dict) else {}

    def write_history(self, history: History) -> None:
        text = json.dumps(history)

        def work(con: Connection) -> None:
            self.create_companions(con)
            update = sql.SQL("UPDATE {} SET history = %s").format(self._meta)
            try:
                with con.transaction():
                    con.execute(update, (text,))
                return
            except errors.UndefinedColumn:  # a store from before: add the column, once
                pass
            alter = sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS history text")
            con.execute(alter.format(self._meta))
            con.execute(update, (text,))

        self._run(work, "writing the store's code history", "the history was not written")

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
            key = claim.key
            con.execute(self._release, (claim.function, key, claim.worker.token))

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
