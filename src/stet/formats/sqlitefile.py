"""The SQLite format: one table ``runs`` in a ``.sqlite`` / ``.db`` file, in WAL mode.

Key columns are declared without a type, so every value keeps its own storage class
(INTEGER, REAL or TEXT) and text that looks like a number stays text; ``_stet_function``
and ``_stet_timestamp`` are TEXT. An absent cell is NULL. The table has no unique index:
which records are the same run is the Store's to decide (under its lock), and a format
that dropped a row it thought a duplicate would lose a record (a parameter named
``result`` is a key column, not a result). A store made by an older stet has such an
index (``runs_identity``); the first write removes it.

The cursor is the row id. ``PRAGMA user_version`` is the table's generation: every
rewrite bumps it, so other processes know to read again. SQLite makes every commit
whole, so there is never a torn tail.

A database this process may only read is read on a read-only connection: one that
shares the log of a live writer when its ``-wal`` file exists, else one that reads the
database file as it is (``immutable``), as SQLite cannot make the log's index in a
directory it may not write.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from pathlib import Path

from .._errors import no_store
from .._storedcells import stored_cells
from .base import Chunk, ColumnRules, DamagedStoreError, Generation, StoreFormat
from .filesite import FileSite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .._values import Cell

__all__ = ["SqliteFile"]

TABLE = "runs"
INDEX = "runs_identity"
_TEXT_COLUMNS = ("_stet_function", "_stet_output", "_stet_error", "_stet_timestamp")
_ROWID_NAMES = ("rowid", "_rowid_", "oid")
_BUSY_SECONDS = 60.0
_OPEN_ATTEMPTS = 100  # "unable to open" while another process creates the file: retry
_abandoned: list[sqlite3.Connection] = []  # inherited over fork: never used, never closed


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rowid_name(columns: Sequence[str]) -> str:
    """A name for the row id that no column hides."""
    names = {c.lower() for c in columns}
    for name in _ROWID_NAMES:
        if name not in names:
            return name
    raise ValueError(
        "an SQLite store cannot have key columns named rowid, _rowid_ and oid all at once; "
        "rename one of those parameters"
    )


@functools.cache
def _column_limit() -> int:
    with contextlib.closing(sqlite3.connect(":memory:")) as con:
        return con.getlimit(sqlite3.SQLITE_LIMIT_COLUMN)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def column_problem(header: Sequence[str], new: Sequence[str]) -> tuple[str, str] | None:
    """The first of ``new`` columns SQLite cannot hold beside ``header``'s, and why.

    SQLite's column names ignore the case of ASCII letters (``A`` is ``a``), the table
    needs one of ``rowid``, ``_rowid_`` and ``oid`` free for its row id, and it holds at
    most ``SQLITE_LIMIT_COLUMN`` columns (2000 by default).
    """
    count = len(header) + len(new) + ("_stet_timestamp" not in header)
    if count > _column_limit():
        return new[0], f"an SQLite table holds at most {_column_limit()} columns"
    seen = {c.translate(_ASCII_LOWER): c for c in header}
    for column in new:
        folded = column.translate(_ASCII_LOWER)
        other = seen.setdefault(folded, column)
        if other != column:
            return column, (
                f"SQLite column names ignore case, so {other!r} and {column!r} would be one column"
            )
        if all(name in seen for name in _ROWID_NAMES):
            return column, (
                "an SQLite store needs one of the names rowid, _rowid_ and oid free for its "
                "row id, and this would take the last of them"
            )
    return None


def _cells(values: tuple[Any, ...], column: str, name: str) -> list[Cell]:
    """One column's values as cells (NULL is ``""``); a BLOB is no cell."""
    if bytes in set(map(type, values)):
        raise DamagedStoreError(
            f"{name} is damaged: its column {column} holds a BLOB, and stet stores numbers "
            "and text only. Change or delete that value; stet changed nothing."
        )
    return stored_cells(values)


class SqliteFile(StoreFormat, ColumnRules):
    """A ``.sqlite`` / ``.db`` store: the table ``runs`` of an SQLite database."""

    def column_problem(self, header: Sequence[str], new: Sequence[str]) -> tuple[str, str] | None:
        return column_problem(header, new)

    def __init__(self, path: str, name: str) -> None:
        self.path = os.path.abspath(path)
        self.name = name  # how messages name the file
        self.site = FileSite(self.path, name)  # lock, owner, claims beside it
        self._con: sqlite3.Connection | None = None
        self._pid = 0  # the process that opened ``_con``
        self._identity: tuple[int, int] | None = None  # the file ``_con`` opened
        self._generation = -1  # user_version at the last read from 0
        self._schema = -1  # schema_version when ``_rowid`` was chosen
        self._rowid = "rowid"
        self._wal_checked = False
        self._version: int | None = None  # PRAGMA data_version when ``_end`` was true
        self._end = 0
        self._inserts: dict[tuple[str, ...], str] = {}
        self._known: frozenset[str] = frozenset()  # the columns the table is known to have
        self._mode = "rw"  # how reads connect: "rw", or read-only ("ro", "ro&immutable=1")

    # -- the connection

    def _connect(self, create: bool = False) -> sqlite3.Connection | None:
        """The open connection, or a new one; None when there is no file (and not ``create``)."""
        if self._con is not None and self._pid == os.getpid():
            return self._con
        self.close()
        if create and not os.path.exists(self.path):
            for suffix in ("-wal", "-shm", "-journal"):  # left by a database removed by hand
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path + suffix)
        mode = "rwc" if create else self._mode
        try:
            con = sqlite3.connect(
                f"{Path(self.path).as_uri()}?mode={mode}",
                uri=True,
                timeout=_BUSY_SECONDS,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,  # the Store serializes every use
            )
        except sqlite3.OperationalError:
            if not create and not os.path.exists(self.path):
                return None
            raise
        st = os.stat(self.path)
        self._con, self._pid, self._identity = con, os.getpid(), (st.st_dev, st.st_ino)
        self._wal_checked = False
        self._version = None
        try:
            con.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives a process kill
        except sqlite3.DatabaseError as error:
            if not create and self._read_only_instead(error):
                return self._connect()
            raise self._damaged(error) from None
        return con

    def _read_only_instead(self, error: sqlite3.DatabaseError) -> bool:
        """Whether ``error`` says this process may only read the database; if so, the
        next connection is read-only."""
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
        if code != sqlite3.SQLITE_READONLY or self._mode != "rw":
            return False
        live = os.path.exists(f"{self.path}-wal")  # a writer's log, to read with it
        self._mode = "ro" if live else "ro&immutable=1"
        self.close()
        return True

    def close(self) -> None:
        con, self._con = self._con, None
        identity, self._identity = self._identity, None
        if con is None:
            return
        try:
            st = os.stat(self.path)
            replaced = (st.st_dev, st.st_ino) != identity
        except FileNotFoundError:
            replaced = True
        if self._pid != os.getpid() or replaced:
            # The parent's connection (closing it could undo the parent's locks), or one
            # to a file removed by hand (closing it would delete the new file's log).
            _abandoned.append(con)
        else:
            con.close()

    def _damaged(self, error: sqlite3.DatabaseError) -> DamagedStoreError:
        return DamagedStoreError(
            f"stet cannot read {self.name} as an SQLite database ({error}). If it is not "
            "one, move it away or use another store path; stet changed nothing."
        )

    def _tables(self, con: sqlite3.Connection) -> list[str]:
        try:
            rows = con.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        except sqlite3.DatabaseError as error:
            raise self._damaged(error) from None
        return [row[0] for row in rows]

    def _foreign(self, tables: list[str]) -> DamagedStoreError:
        return DamagedStoreError(
            f"{self.name} is an SQLite database without a {TABLE} table (its tables: "
            f"{', '.join(tables)}), so it is not a stet store. Use another store path; to "
            "import its rows, save them as a CSV file and use stet.convert(csv_path, "
            "new_path). stet changed nothing."
        )

    def _columns(self, con: sqlite3.Connection) -> list[str]:
        return [row[1] for row in con.execute(f"PRAGMA table_info({TABLE})")]

    # -- reading

    def generation(self) -> Generation | None:
        """The last row id, unless the table was rewritten or the file replaced since
        the last read from 0; None when the file holds nothing."""
        end = self._end_if_same()
        if end is not None:
            return Generation(end, True)
        return Generation(0, False) if self._exists() else None

    def _exists(self) -> bool:
        """Whether the file holds anything: the table, or something stet cannot read."""
        if not os.path.exists(self.path):
            return False
        try:
            con = self._connect()
            return con is not None and bool(self._tables(con))
        except DamagedStoreError:
            return True  # the read says why

    def _end_if_same(self) -> int | None:
        """The last row id, or None when the table was rewritten or the file replaced."""
        con = self._con
        if con is None or self._pid != os.getpid():
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        if (st.st_dev, st.st_ino) != self._identity:
            return None
        try:
            (version,) = con.execute("PRAGMA data_version").fetchone()
            if version == self._version:
                return self._end  # no other connection committed anything since
            generation, schema, end = con.execute(
                "SELECT (SELECT user_version FROM pragma_user_version),"
                " (SELECT schema_version FROM pragma_schema_version),"
                f" (SELECT max({self._rowid}) FROM {TABLE})"
            ).fetchone()
        except sqlite3.Error:
            return None  # read again: the read says what is wrong
        if generation != self._generation:
            return None
        if schema != self._schema:  # columns were added: one may hide the row id's name
            self._schema = schema
            rowid = _rowid_name(self._columns(con))
            if rowid != self._rowid:
                self._rowid = rowid
                return self._end_if_same()
        self._version, self._end = version, int(end or 0)
        return self._end

    def read(
        self,
        cursor: int,
        header: Sequence[str],
        max_rows: int | None = None,
        first_line: int = 1,
    ) -> Chunk:
        """The rows after row id ``cursor`` (with ``max_rows``, that many at most)."""
        for attempt in range(_OPEN_ATTEMPTS):
            if cursor == 0 or attempt:
                self.close()  # a read from the start: the file may have been replaced
            try:
                con = self._connect()
                if con is None:
                    return Chunk([])
                con.execute("BEGIN")  # one snapshot for the generation, columns and rows
                try:
                    return self._read(con, cursor, list(header), first_line, max_rows)
                finally:
                    con.execute("COMMIT")
            except sqlite3.DatabaseError as error:
                if self._read_only_instead(error):
                    continue
                code = getattr(error, "sqlite_errorcode", 0) & 0xFF
                if code != sqlite3.SQLITE_CANTOPEN or attempt == _OPEN_ATTEMPTS - 1:
                    raise self._damaged(error) from None
                time.sleep(0.01)  # another process is creating the database: a moment
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(
        self,
        con: sqlite3.Connection,
        cursor: int,
        header: list[str],
        first_line: int,
        max_rows: int | None,
    ) -> Chunk:
        (generation,), (schema,) = con.execute(
            "SELECT user_version FROM pragma_user_version"
            " UNION ALL SELECT schema_version FROM pragma_schema_version"
        ).fetchall()
        if cursor == 0:
            self._generation = generation
        elif generation != self._generation:  # rewritten since the read from 0 began
            return Chunk(header, end=cursor, first_line=first_line)  # end_if_same says so
        columns = self._columns(con)
        if not columns:
            tables = self._tables(con)
            if tables:
                raise self._foreign(tables)
            return Chunk([])
        self._schema, self._rowid = schema, _rowid_name(columns)
        self._known = frozenset(columns)
        after = f"FROM {TABLE} WHERE {self._rowid} > ? ORDER BY {self._rowid}"
        count = -1 if max_rows is None else max(1, max_rows)  # LIMIT -1: no limit
        rows = con.execute(f"SELECT * {after} LIMIT ?", (cursor, count)).fetchall()
        if not rows:
            return Chunk(columns, end=cursor, first_line=first_line)
        (end,) = con.execute(  # the last row's id, without a row id in every row
            f"SELECT {self._rowid} {after} LIMIT 1 OFFSET ?", (cursor, len(rows) - 1)
        ).fetchone()
        values = zip(*rows, strict=True)
        cells = [_cells(v, c, self.name) for v, c in zip(values, columns, strict=True)]
        return Chunk(columns, cells, len(rows), end, first_line=first_line)

    # -- writing (under the Store's lock)

    def _writer(self, create: bool = False) -> sqlite3.Connection:
        """A connection to a stet store (never someone else's database) in WAL mode."""
        if self._mode != "rw":  # a read-only connection read until now
            self.close()
            self._mode = "rw"
        con = self._connect(create)
        if con is None:
            raise no_store("No stet store at this path", self.name)
        if not self._wal_checked:
            tables = self._tables(con)
            if tables and (TABLE not in tables or "_stet_timestamp" not in self._columns(con)):
                raise self._foreign(tables)
            con.execute(f"DROP INDEX IF EXISTS {INDEX}")  # an older stet's: it dropped records
            (mode,) = con.execute("PRAGMA journal_mode").fetchone()
            if mode != "wal":
                con.execute("PRAGMA journal_mode=WAL")
            self._wal_checked = True
        return con

    def append(
        self, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, fsync: bool
    ) -> int | None:
        con = self._writer()
        if not self._known.issuperset(header):
            self._add_columns(con, header)
        if not rows:
            return self._end
        if fsync:
            con.execute("PRAGMA synchronous=FULL")  # this commit survives a power loss
        try:
            for row in rows:
                names = tuple(c for c, cell in zip(header, row, strict=True) if cell != "")
                sql = self._inserts.get(names)
                if sql is None:
                    sql = self._inserts[names] = (
                        f"INSERT INTO {TABLE} ({', '.join(map(_quote, names))}) "
                        f"VALUES ({', '.join('?' * len(names))})"
                    )
                rowid = con.execute(sql, [cell for cell in row if cell != ""]).lastrowid
        finally:
            if fsync:
                con.execute("PRAGMA synchronous=NORMAL")
        assert rowid is not None
        self._end = rowid  # data_version leaves out this connection's own commits
        return rowid

    def _add_columns(self, con: sqlite3.Connection, header: Sequence[str]) -> None:
        self._version = None  # a column may now hide the row id's name
        con.execute("BEGIN IMMEDIATE")
        try:
            have = self._columns(con)
            for column in header:
                if column not in have:
                    kind = " TEXT" if column in _TEXT_COLUMNS else ""
                    con.execute(f"ALTER TABLE {TABLE} ADD COLUMN {_quote(column)}{kind}")
                    have.append(column)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._known = frozenset(have)

    def rewrite(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        con = self._writer(create=True)
        self._version = None
        con.execute("BEGIN IMMEDIATE")
        try:
            (generation,) = con.execute("PRAGMA user_version").fetchone()
            con.execute(f"DROP TABLE IF EXISTS {TABLE}")
            declared = [_quote(c) + (" TEXT" if c in _TEXT_COLUMNS else "") for c in header]
            con.execute(f"CREATE TABLE {TABLE} ({', '.join(declared)})")
            if rows:
                con.executemany(
                    f"INSERT INTO {TABLE} VALUES ({', '.join('?' * len(header))})",
                    ([None if cell == "" else cell for cell in row] for row in rows),
                )
            con.execute(f"PRAGMA user_version = {generation + 1}")
            con.execute("COMMIT")
            self._known = frozenset(header)
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def settle(self) -> None:
        """Copy the log into the database file; the last connection to close removes it."""
        if self._con is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._con.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self.close()
