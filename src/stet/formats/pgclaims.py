"""The claims of a PostgreSQL store: rows of ``<table>_claims``, leases by the server's clock.

The book finds each claim's holder and its expiry (with the server's time now); whether
the claim still holds its run is ``stet._claims.holds``'s judgement. A claim is taken by
one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement: a free run at once, and a
claim judged not to hold by replacing exactly the row that was judged (its holder and its
expiry, given back as parameters), so two workers never both hold a run.
"""

from __future__ import annotations

import threading

from psycopg import errors, sql

from .._claims import Claim, Worker, holds
from .._storedcells import printable_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeVar

    from .pglink import Connection, Link

    T = TypeVar("T")

__all__ = ["PostgresClaims"]

_HOLDER_FIELDS = "function, key, call, host, pid, machine, start, worker, lease"
_MICROS = "(extract(epoch FROM {}) * 1000000)::bigint"  # a time, exactly, as a number


class PostgresClaims:
    """The claims of a store as rows of ``<table>_claims``.

    The book has its own connection: the heartbeat thread renews through it while the
    main thread reads and writes records. ``create`` makes the claims table when a
    statement finds it missing.
    """

    def __init__(self, link: Link, table: str, create: Callable[[Connection], None]) -> None:
        self._link = link
        self._create = create
        self._mutex = threading.Lock()
        claims = sql.Identifier(f"{table}_claims")
        fields = sql.SQL(_HOLDER_FIELDS)
        expires = sql.SQL(_MICROS.format("expires"))
        now = sql.SQL(_MICROS.format("now()"))

        def text(query: sql.Composable) -> str:
            return query.as_string(None)

        # One round trip: our claim, or the holder's with its expiry and the server's now.
        # A holder other than us is not even tried (a busy run costs no row lock) unless
        # it is the very claim given as %(seen_worker)s and %(seen_expires)s, judged not to
        # hold: then it is replaced, if it is still that claim as the row is then.
        self._take = text(
            sql.SQL(
                "WITH held AS (SELECT {1}, {2} AS expires_at, {3} AS now_at FROM {0}"
                " WHERE function = %(function)s AND key = %(key)s),"
                " mine AS (INSERT INTO {0} AS claimed ({1}, expires)"
                " SELECT %(function)s, %(key)s, %(call)s, %(host)s, %(pid)s, %(machine)s,"
                " %(start)s, %(worker)s, %(lease)s, now() + %(lease)s * interval '1 second'"
                " WHERE NOT EXISTS (SELECT FROM held WHERE worker <> %(worker)s"
                " AND (worker, expires_at) IS DISTINCT FROM"
                " (%(seen_worker)s::text, %(seen_expires)s::bigint))"
                " ON CONFLICT (function, key) DO UPDATE SET call = excluded.call,"
                " host = excluded.host, pid = excluded.pid, machine = excluded.machine,"
                " start = excluded.start, worker = excluded.worker, lease = excluded.lease,"
                " expires = excluded.expires WHERE claimed.worker = excluded.worker"
                " OR (claimed.worker = %(seen_worker)s::text"
                " AND {4} = %(seen_expires)s::bigint)"
                " RETURNING true)"
                " SELECT true, NULL::text, NULL::bytea, NULL::text, NULL::text, NULL::bigint,"
                " NULL::text, NULL::bigint, NULL::text, NULL::double precision, NULL::bigint,"
                " NULL::bigint FROM mine"
                " UNION ALL SELECT false, {1}, expires_at, now_at FROM held"
                " WHERE NOT EXISTS (SELECT FROM mine)"
            ).format(claims, fields, expires, now, sql.SQL(_MICROS.format("claimed.expires")))
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
            sql.SQL("SELECT {1}, {2}, {3} FROM {0}").format(claims, fields, expires, now)
        )

    def _run(self, work: Callable[[Connection], T], doing: str, failed: str) -> T:
        """``work`` on the book's connection; a missing claims table is made first."""

        def guarded(con: Connection) -> T:
            try:
                return work(con)
            except errors.UndefinedTable:
                self._create(con)
                return work(con)

        with self._mutex:
            return self._link.run(guarded, doing, failed, retry=True)  # each may be done twice

    def take(self, claim: Claim) -> Claim | None:
        """Claim a run: None when it is now ours, else the claim of its holder.

        Our own claim is taken again (a take done twice, when its answer was lost).
        """
        params = _fields(claim)

        def work(con: Connection) -> Claim | None:
            holder: Claim | None = None
            params["seen_worker"] = params["seen_expires"] = None
            for _ in range(10):
                row = con.execute(self._take, params).fetchone()
                if row is not None and row[0]:
                    claim.handle = claim.worker.token
                    return None
                if row is None:
                    continue  # released or just taken meanwhile: try again
                holder = _claim(row[1:])
                if holds(holder, row[10], row[11]):
                    return holder
                params["seen_worker"], params["seen_expires"] = holder.worker.token, row[10]
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
        """Every claim that holds its run, of any worker."""

        def work(con: Connection) -> list[tuple[Any, ...]]:
            return con.execute(self._running).fetchall()

        rows = self._run(work, "reading the running claims", "nothing was read")
        claims = [(_claim(row), row[9], row[10]) for row in rows]
        return [claim for claim, expires, now in claims if holds(claim, expires, now)]

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
        "call": printable_text(claim.call),
        "host": printable_text(worker.host),
        "pid": worker.pid,
        "machine": worker.machine,
        "start": worker.start,
        "worker": worker.token,
        "lease": claim.lease,
    }


def _claim(row: Sequence[Any]) -> Claim:
    function, key, call, host, pid, machine, start, token, lease = row[:9]
    worker = Worker(host, int(pid), machine, int(start), token)
    return Claim(function, bytes(key), call, worker, float(lease))


def _call(claim: Claim) -> str:
    return claim.call if len(claim.call) <= 80 else claim.call[:77] + "..."
