"""What a PostgreSQL store has beside its rows: its lock, its owner and its claims.

The lock is a session advisory lock on the format's connection; the owner (and each
function's code history, in a ``history`` column added when first written) is kept in
``<table>_meta``; the claims are rows of ``<table>_claims`` on a connection of their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json

import psycopg
from psycopg import errors, sql

from .._lock import waiting
from .base import Site
from .pgclaims import PostgresClaims

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import TypeVar

    from .._provenance import History
    from .pglink import Connection, Link, Server

    T = TypeVar("T")

__all__ = ["AdvisoryLock", "PostgresSite", "lock_key"]


# ------------------------------------------------------------------------ the site


def lock_key(table: str) -> int:
    """The advisory lock's bigint for a store's table (or any other name)."""
    digest = hashlib.blake2b(f"stet:{table}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLock:
    """The store's lock: a session advisory lock on the format's connection, reentrant.

    It lives as long as that connection: when the connection is lost, so is the lock, and
    the connection is not replaced until the lock is let go (the depth returns to 0).
    """

    def __init__(self, link: Link, table: str) -> None:
        self._link = link
        self._key = lock_key(table)
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


class PostgresSite(Site):
    """What the store has beside its rows: the lock, the owner and the claims.

    ``link`` is the format's connection, on which the lock is held; the claims have a
    connection of their own.
    """

    lock: AdvisoryLock
    claims: PostgresClaims

    def __init__(self, server: Server, link: Link) -> None:
        self._link = link
        self.lock = AdvisoryLock(link, server.table)
        self.claims = PostgresClaims(server.link(), server.table, self.create_companions)
        self._meta = sql.Identifier(f"{server.table}_meta")
        self._claims = sql.Identifier(f"{server.table}_claims")
        self._present = (
            "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
            (self._meta.as_string(None), self._claims.as_string(None)),
        )
        # Not the store's lock (the claims connection must never wait for the lock this
        # process may hold): a lock of its own, held only while the tables are made.
        self._making = lock_key(f"{server.table} companions")  # no table has such a name

    def create_companions(self, con: Connection) -> None:
        """Make the meta and claims tables, once, whichever process comes first.

        Processes that find them missing at once take turns, each in a transaction that
        holds a lock of its own (a savepoint within a rewrite's transaction): the first
        makes them, the others find them made.
        """
        query, names = self._present
        if con.execute(query, names).fetchone() == (True,):
            return
        with con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(%s)", (self._making,))
            self._create_companions(con)

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
        return self._link.run(work, doing, failed, retry=retry)

    def prepare(self) -> None:
        """Make the meta and claims tables (and find out early that the server answers)."""

        self._run(self.create_companions, "opening the store", "nothing was written")

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

    def tidy(self) -> None:
        """Nothing to tidy: a released claim is a deleted row."""

    def after_fork(self) -> None:
        self.lock.after_fork()
        self.claims.after_fork()
