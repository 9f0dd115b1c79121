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

from operator import itemgetter

from psycopg import errors, sql

from .._storedcells import nul_free_cells
from .base import Chunk, ColumnRules, Generation, StoreFormat
from .pgcolumns import (
    KIND_OF_OID,
    ROW,
    SQL_TYPE,
    TIMESTAMP,
    cells_of,
    column_name,
    column_problem,
    kind_of_column,
)
from .pglink import Server
from .pgschema import Columns, foreign_table
from .pgsite import PostgresSite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TypeVar

    from .._values import Cell
    from .pglink import Connection

    T = TypeVar("T")

__all__ = ["PostgresTable"]


# ------------------------------------------------------------------------ the format


class PostgresTable(StoreFormat, ColumnRules):
    """A store kept in a table of a PostgreSQL database (see the module's docstring)."""

    site: PostgresSite

    def __init__(self, location: str, name: str) -> None:
        server = Server(location, name)
        self.table = server.table
        self._link = server.link()
        self._sql = _Statements(self.table)
        self._generation = -1  # the generation at the last read from 0
        self._columns = Columns(server.name, self.table, self._sql.columns, self._sql.bump_layout)
        self._known: list[str] | None = None  # the columns last read, written or made
        self._inserts: dict[tuple[str, ...], str] = {}
        self.site = PostgresSite(server, self._link)

    @property
    def name(self) -> str:
        """How messages name the store (the Store may change it)."""
        return self._columns.name

    @name.setter
    def name(self, name: str) -> None:
        self._columns.name = name

    def __repr__(self) -> str:
        return f"PostgresTable({self.name!r})"

    def column_problem(self, header: Sequence[str], new: Sequence[str]) -> tuple[str, str] | None:
        """Asked before a run (``Store.check_columns``): see :func:`column_problem`."""
        return column_problem(header, new)

    def _run(
        self, work: Callable[[Connection], T], doing: str, failed: str, *, retry: bool = False
    ) -> T:
        return self._link.run(work, doing, failed, retry=retry)

    # -- reading

    def generation(self) -> Generation | None:
        """The last row id, unless the table was rewritten since the last read from 0
        (one query); None when there is no table."""

        def work(con: Connection) -> Generation | None:
            try:
                row = con.execute(self._sql.end).fetchone()
            except (errors.UndefinedTable, errors.UndefinedColumn):
                row = None  # no table, or one stet did not make: the read says which
            if row is not None and row[0] == self._generation:
                if row[1] != self._columns.layout:
                    self._columns.kinds = None  # columns were added or widened: look again
                return Generation(int(row[2] or 0), True)
            there = con.execute(self._sql.exists).fetchone() == (True,)
            return Generation(0, False) if there else None

        doing = "reading" if self._generation >= 0 else "looking for its table"
        return self._run(work, doing, "nothing was read", retry=True)

    def read(
        self,
        cursor: int,
        header: Sequence[str],
        max_rows: int | None = None,
        first_line: int = 1,
    ) -> Chunk:
        """The rows after row id ``cursor`` (with ``max_rows``, that many at most)."""

        def work(con: Connection) -> Chunk:
            for _ in range(3):
                try:
                    return self._read(con, cursor, list(header), first_line, max_rows)
                except errors.UndefinedTable:
                    if con.execute(self._sql.exists).fetchone() != (True,):
                        return Chunk([])
                    self.site.create_companions(con)  # a table without its meta table
            raise AssertionError("unreachable")  # pragma: no cover

        chunk = self._run(work, "reading", "nothing was read", retry=True)
        self._known = chunk.header
        return chunk

    def _read(
        self, con: Connection, cursor: int, header: list[str], first_line: int, count: int | None
    ) -> Chunk:
        """One query, one snapshot: the generation, the layout, the columns and the rows."""
        try:
            cur = con.execute(self._sql.read, (cursor, count), prepare=False)
        except errors.UndefinedColumn:
            raise foreign_table(self.name, self.table) from None
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
        self._columns.learn(layout, names, [d.type_code for d in described])
        keep = [i for i in range(2, len(names) + 2) if i != at]
        columns = [cur.description[i] for i in keep]
        header = [d.name for d in columns]
        if not fetched or fetched[0][at] is None:  # no row: one row of NULLs, or none
            return Chunk(header, end=cursor, first_line=first_line)
        cells = [
            cells_of(list(map(itemgetter(i), fetched)), d.type_code, d.name, self.name)
            for i, d in zip(keep, columns, strict=True)
        ]
        return Chunk(header, cells, len(fetched), int(fetched[-1][at]), first_line=first_line)

    # -- writing (under the store's lock)

    def append(self, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, fsync: bool) -> int:
        """Insert the rows and commit them (columns ``header`` adds are made first);
        returns the last row id (0 when no row is given).

        Every commit is durable (``synchronous_commit`` on), so ``fsync`` asks nothing more.
        """
        header = list(header)

        def work(con: Connection) -> int:
            if header != self._known:
                self._columns.add_missing(con, header)
                self._known = header
            if len(rows) == 1:
                return self._insert_row(con, header, rows[0])  # committed as it is made
            end = 0
            with con.transaction():  # every row, or none
                for row in rows:
                    end = self._insert_row(con, header, row)
            return end

        return self._run(work, "recording a run", "the run was not recorded")

    def _insert_row(self, con: Connection, header: list[str], row: Sequence[Cell]) -> int:
        """Insert one row (its columns widened as needed); returns its row id."""
        values = {c: cell for c, cell in zip(header, row, strict=True) if cell != ""}
        names = tuple(values)
        params = self._columns.fit(con, names, values)
        inserted = con.execute(self._insert(names), params).fetchone()
        assert inserted is not None
        return int(inserted[0])

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

    def rewrite(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        """Replace the table's rows and columns in one transaction (COPY) and bump the
        generation, so that every other process reads the store again."""
        header = [column_name(c) for c in header]
        columns = [list(map(itemgetter(i), rows)) for i in range(len(header))]
        kinds = [kind_of_column(c, cells) for c, cells in zip(header, columns, strict=True)]
        kept = [
            nul_free_cells(cells) if kind == "text" else cells
            for kind, cells in zip(kinds, columns, strict=True)
        ]  # PostgreSQL cannot keep NUL
        if any(new is not cells for new, cells in zip(kept, columns, strict=True)):
            rows = [list(row) for row in zip(*kept, strict=True)]

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
            self._columns.kinds = None
            self._columns.filled = {
                c
                for c, kind, cells in zip(header, kinds, columns, strict=True)
                if kind == "text" and any(cell != "" for cell in cells)
            }

        self._run(work, "rewriting the store", "the store was left as it was")
        self._known = header

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
            raise foreign_table(self.name, self.table)
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
                if KIND_OF_OID.get(have[column]) != kind:
                    self._columns.retype(con, column, kind, keep=False)
            return
        con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        declared = [
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(SQL_TYPE[k]))
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
