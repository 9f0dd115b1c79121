"""Connections to a PostgreSQL store's server: the URL, libpq's settings, the password.

A store's URL is split into libpq's connection string and the table's name; messages
show it without its password (``stet.formats.redacted``), and libpq's own error texts
lose every spelling of it (``Link.scrub``). A :class:`Server` is what the URL says; a
:class:`Link` is one connection to it, opened on first use and made anew after a fork
or a loss; connections are closed at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import threading
import weakref
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import TextLoader

from . import redacted, url_passwords
from .base import StoreConnectionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeAlias, TypeVar

    Connection: TypeAlias = psycopg.Connection[tuple[Any, ...]]
    T = TypeVar("T")

__all__ = ["DEFAULT_TABLE", "TIMESTAMPTZ", "Link", "Server"]

DEFAULT_TABLE = "stet_runs"
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_TABLE = 63 - len("_claims")  # PostgreSQL cuts identifiers at 63 bytes
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
TIMESTAMPTZ = 1184  # timestamptz's type OID: read as text, made stet's text in bulk

_SESSION = (
    "SELECT set_config('TimeZone', 'UTC', false),"  # timestamps read as UTC
    " set_config('extra_float_digits', '3', false),"  # floats as text: exact
    " set_config('jit', 'off', false)"  # compiling a read of 64k rows costs more than it saves
)

_abandoned: list[Connection] = []  # inherited over fork: never used, never closed
_links: weakref.WeakSet[Link] = weakref.WeakSet()  # closed at exit


# ------------------------------------------------------------------------ the location


class Server:
    """What a store's URL says: libpq's connection string (stet's defaults added), the
    table's name, how messages name the store, and every spelling of its passwords."""

    def __init__(self, location: str, name: str) -> None:
        self.name = redacted(name)
        conninfo, self.table = _split(location, self.name)
        self._secrets = _secrets_of(location, conninfo, self.name)
        present = conninfo_to_dict(conninfo)
        defaults = {k: v for k, v in _CONNECT_DEFAULTS.items() if k not in present}
        self.conninfo = make_conninfo(conninfo, **defaults)

    def link(self) -> Link:
        """A new connection to the server (opened on first use)."""
        return Link(self.conninfo, self.name, self._secrets)


def _parameter(segment: str) -> str:
    return unquote(segment.partition("=")[0]).strip().lower()


def _split(location: str, name: str) -> tuple[str, str]:
    """The connection string for libpq (``table=`` taken out) and the table's name."""
    try:
        parts = urlsplit(location)
    except ValueError as error:  # "Invalid IPv6 URL": a host's [ without its ]
        raise _unreadable(name, str(error)) from None
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


# ------------------------------------------------------------------------ connections


class Link:
    """One connection to the server: opened on first use, made anew after a fork or a loss.

    ``pinned`` is set while the store's lock is held on this connection: a connection
    lost then is not replaced until the lock is let go, as the lock died with it.
    """

    def __init__(self, conninfo: str, name: str, secrets: Sequence[str]) -> None:
        self.conninfo = conninfo
        self.name = name
        self._secrets = list(secrets)
        self._con: Connection | None = None
        self._pid = 0
        self.pinned = False
        self._mutex = threading.RLock()  # one thread's work at a time: a transaction is whole
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
            con.adapters.register_loader(TIMESTAMPTZ, TextLoader)  # made stet's text in bulk
        except psycopg.Error as error:
            reason = self.scrub(error)
        else:
            self._con, self._pid = con, os.getpid()
            return con
        # raised here, not in the except clause: libpq's error (which holds the connection
        # and may hold the URL's text) is not kept as the new error's __context__
        raise StoreConnectionError(
            f"stet cannot connect to {self.name} ({reason}) while {doing}; "
            f"{failed}. Check the URL, the password and that the server runs."
        )

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
        found broken outside the lock is replaced and ``work`` tried once more. The
        threads of a process take turns: another thread's statement never lands inside
        this one's transaction (where its rollback would undo it).
        """
        with self._mutex:
            return self._run(work, doing, failed, retry)

    def _run(self, work: Callable[[Connection], T], doing: str, failed: str, retry: bool) -> T:
        for attempt in range(2):
            fresh = self._con is None or self._pid != os.getpid()
            con = self.connection(doing, failed)
            try:
                return work(con)
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                reason, ended = self.scrub(error), _ends_the_session(error)
            broken = con.closed or con.broken or ended
            if broken:
                self.drop()
            if retry and broken and not fresh and not self.pinned and attempt == 0:
                continue
            raise StoreConnectionError(  # outside the except clause: no __context__ kept
                f"the connection to {self.name} failed while {doing} "
                f"({reason}); {failed}. stet connects again on the next call."
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def scrub(self, error: BaseException) -> str:
        """An error's text on one line, without the password."""
        return _scrubbed(str(error), self._secrets)

    def drop(self) -> None:
        """Forget the connection: close it if it is this process's, else leave it be."""
        with self._mutex:
            self._drop()

    def _drop(self) -> None:
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
        self._mutex = threading.RLock()  # a thread of the parent's may have held it

    def close_at_exit(self) -> None:
        """Close the connection, unless the lock is held on it or a thread uses it now
        (a heartbeat's renewal: the process's end closes it)."""
        if self.pinned or not self._mutex.acquire(blocking=False):
            return
        try:
            self._drop()
        finally:
            self._mutex.release()


def _ends_the_session(error: psycopg.Error) -> bool:
    """Whether the server ended the session (or the client lost it) although the
    connection is not yet marked broken: the server's FATAL message can arrive before
    the socket's end, and the next statement then fails as "another command is already
    in progress". A cancelled statement (57014) leaves the session as it was."""
    state = error.sqlstate
    return state is None or state.startswith(("08", "57P"))


@atexit.register
def _close_all() -> None:
    for link in list(_links):
        link.close_at_exit()


def _secrets_of(location: str, conninfo: str, name: str) -> list[str]:
    """Every spelling of the URL's passwords: as the URL spells them, as libpq reads them.

    A URL libpq cannot read, or whose password holds a character it reads otherwise than
    stet shows it, is refused (libpq's reason without the password).
    """
    spelled, in_query = url_passwords(location)
    given = [spelled, *in_query]
    given += [unquote(s) for s in given]
    if any(c in spelled for c in "@/?#"):
        raise ValueError(
            f"stet cannot read the store URL {name}: its password holds @, /, ? or # as "
            "is, which a URL must percent-encode. Write @ as %40, / as %2F, ? as %3F and "
            "# as %23 (urllib.parse.quote(password, safe='') does it)"
        )
    problem = ""
    try:
        settings = conninfo_to_dict(conninfo)
    except psycopg.Error as error:
        problem = _scrubbed(str(error), given)
    if problem:  # raised outside the except clause: libpq's text is not kept as __context__
        raise _unreadable(name, problem)
    read = [str(settings.get(k) or "") for k in ("password", "sslpassword")]
    found = {*given, *read, *(quote(s, safe="") for s in read)}
    return sorted((s for s in found if s), key=len, reverse=True)


def _unreadable(name: str, problem: str) -> ValueError:
    return ValueError(
        f"stet cannot read the store URL {name} ({problem}); the form is "
        "postgresql://user:password@host:5432/dbname?table=runs"
    )


def _scrubbed(text: str, secrets: Sequence[str]) -> str:
    """``text`` on one line, each of ``secrets`` (of 3 characters or more) as ``***``."""
    text = " ".join(text.split())
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text
