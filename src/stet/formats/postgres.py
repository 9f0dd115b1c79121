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

import math
from operator import itemgetter

from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .._errors import no_store
from .._values import cell_of, text_of_cell
from . import redacted
from .base import Chunk, DamagedStoreError, WholeRecords
from .pglink import _CONNECT_DEFAULTS, _TIMESTAMPTZ, _Link, _secrets_of, _split
from .pgsite import PostgresSite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeVar

    from .._values import Cell
    from .pglink import Connection

    T = TypeVar("T")

__all__ = ["PostgresTable"]

ROW = "_stet_row"
TIMESTAMP = "_stet_timestamp"
FUNCTION = "_stet_function"
_EXACT = 2**53

# Type OIDs, and the kind of cell each column type holds.
_INT8, _FLOAT8, _TEXT = 20, 701, 25
_INTS = frozenset({20, 21, 23})  # bigint, smallint, integer
_FLOATS = frozenset({700, 701})  # real, double precision
_TEXTS = frozenset({25, 1043, 1042, 19})  # text, varchar, char, name
_KIND_OF_OID = {_INT8: "int", _FLOAT8: "float", _TEXT: "text", _TIMESTAMPTZ: "time"}
_SQL_TYPE = {"int": "bigint", "float": "double precision", "text": "text", "time": "timestamptz"}
_WIDER = {"int": 0, "float": 1, "text": 2}


# ------------------------------------------------------------------------ the format


class PostgresTable(WholeRecords):
    """A store kept in a table of a PostgreSQL database (see the module's docstring)."""

    def column_problem(self, header: Sequence[str], new: Sequence[str]) -> tuple[str, str] | None:
        """Asked before a run (``Store.check_columns``): see :func:`_column_problem`."""
        return _column_problem(header, new)

    def __init__(self, path: str, name: str) -> None:
        self.name = redacted(name)
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
        text = "No stet store at this URL (its table is missing)"
        return no_store(text, self.name, why="its table is missing")

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
                self._retype(con, column, need, keep=True, was=have)
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

    def _retype(
        self, con: Connection, column: str, kind: str, *, keep: bool, was: str | None = None
    ) -> None:
        """Change a column's type, converting its values (``keep``) or not (it has none)."""
        name, to = sql.Identifier(column), sql.SQL(_SQL_TYPE[kind])
        if not keep:
            value = sql.SQL("NULL::{}").format(to)
        elif was == "float" and kind == "text":  # PostgreSQL writes 2.0 as 2 and -0.0 as -0:
            value = sql.SQL(  # keep a float's text a float's (2.0, -0.0), as stet writes it
                "CASE WHEN {0}::text ~ '^-?[0-9]+$' THEN {0}::text || '.0' ELSE {0}::text END"
            ).format(name)
        else:
            value = sql.SQL("{}::{}").format(name, to)
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


_MAX_COLUMNS = 1600  # PostgreSQL's MaxHeapAttributeNumber
# The names PostgreSQL keeps for every table's system columns.
_SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})


def _column_problem(header: Sequence[str], new: Sequence[str]) -> tuple[str, str] | None:
    """The first of ``new`` columns PostgreSQL cannot hold, and why (``header`` it can)."""
    count = len(header) + len(new) + (TIMESTAMP not in header) + (ROW not in header)
    if count > _MAX_COLUMNS:
        return new[0], f"a PostgreSQL table holds at most {_MAX_COLUMNS} columns"
    for column in new:
        size = len(column.encode("utf-8", "surrogatepass"))
        if size > 63:
            return column, f"PostgreSQL cuts names at 63 bytes, and this one has {size}"
        if column in _SYSTEM_COLUMNS:
            return column, f"{column} is the name of a PostgreSQL system column"
    return None


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
        return text_of_cell(cell)
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
