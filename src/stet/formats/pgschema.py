"""The columns of a PostgreSQL store's table as this process knows them, and how they
change under the store's lock: added, retyped for their first value, widened in place
(``bigint`` -> ``double precision`` -> ``text``) when a new value does not fit.
"""

from __future__ import annotations

from psycopg import sql

from .._errors import no_store
from .._storedcells import exact_as_float, float_text
from .base import DamagedStoreError
from .pgcolumns import KIND_OF_OID, ROW, SQL_TYPE, TIMESTAMP, WIDER, column_name, kind_of, param

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .._values import Cell
    from .pglink import Connection

__all__ = ["Columns", "foreign_table", "missing_table"]


def foreign_table(name: str, table: str) -> DamagedStoreError:
    """The error for a table stet did not make."""
    return DamagedStoreError(
        f"{name}: the table {table} has no {ROW} column, so stet did not make "
        f"it and it is not a stet store. Use another table= in the URL; stet changed nothing."
    )


def missing_table(name: str) -> FileNotFoundError:
    """The error for a store whose table is not there."""
    return no_store(
        "No stet store at this URL (its table is missing)", name, why="its table is missing"
    )


class Columns:
    """The columns of one store's table: each one's kind of cell, as last seen."""

    def __init__(self, name: str, table: str, columns_query: str, bump_layout: str) -> None:
        self.name = name
        self.table = table
        self._columns_query = columns_query  # (layout, names, type oids) from the catalog
        self._bump_layout = bump_layout
        self.layout = -1  # the layout ``kinds`` describes
        self.kinds: dict[str, str] | None = None  # column -> int/float/text/time/other
        self.filled: set[str] = set()  # text columns known to hold a value

    def learn(self, layout: int, names: list[str], oids: list[int]) -> None:
        self.kinds = {n: KIND_OF_OID.get(oid, "other") for n, oid in zip(names, oids, strict=True)}
        self.layout = layout

    def now(self, con: Connection) -> dict[str, str]:
        """Each column's kind of cell, as the catalog says now."""
        if self.kinds is None:
            row = con.execute(self._columns_query).fetchone()
            if row is None or row[1] is None:
                raise missing_table(self.name)
            names, oids = row[1], row[2]
            self.learn(int(row[0]), list(names), list(oids))
            assert self.kinds is not None
            if ROW not in self.kinds:
                raise foreign_table(self.name, self.table)
        return self.kinds

    def fit(self, con: Connection, names: Sequence[str], values: dict[str, Cell]) -> list[Any]:
        """The record's parameters, each as its column's type; columns widened as needed."""
        kinds = self.now(con)
        if any(self._need(values[c], kinds.get(c), c) for c in names):
            self.kinds = None  # another process may have changed the columns already
            kinds = self.now(con)
            needs = {c: n for c in names if (n := self._need(values[c], kinds.get(c), c))}
            if needs:
                self._widen(con, needs)
                kinds = self.now(con)
        return [param(values[c], kinds[c]) for c in names]

    def _need(self, cell: Cell, kind: str | None, column: str) -> str | None:
        """The kind ``column`` must become to hold ``cell``; None when it holds it already."""
        if kind is None:
            return "time" if column == TIMESTAMP else "text"  # not there (yet): add it
        if kind == "text":  # a number in a text column: a column with no value takes its type
            return None if type(cell) is str or column in self.filled else kind_of(cell)
        if kind in ("int", "float"):
            need = kind_of(cell)
            return None if WIDER[kind] >= WIDER[need] else need
        return None  # a timestamp, or a type stet did not make: PostgreSQL converts

    def _widen(self, con: Connection, needs: dict[str, str]) -> None:
        """Make each column hold its new value: a column with no value takes the value's
        type, any other becomes wider (bigint -> double precision -> text)."""
        kinds = self.now(con)
        with con.transaction():
            for column, need in needs.items():
                have = kinds.get(column)
                if have is None:
                    self.add(con, column)
                    have = "time" if column == TIMESTAMP else "text"
                    if have == need:
                        continue
                elif have == "text" and self._holds_values(con, column):
                    self.filled.add(column)
                    continue  # the number goes in as its text
                if have == "text":  # no value yet
                    if need != "text":
                        self.retype(con, column, need, keep=False)
                    continue
                if need == "float" and self._too_big_for_float(con, column):
                    need = "text"
                self.retype(con, column, need, keep=True, was=have)
            con.execute(self._bump_layout)
        self.kinds = None

    def _holds_values(self, con: Connection, column: str) -> bool:
        query = sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE {} IS NOT NULL)").format(
            sql.Identifier(self.table), sql.Identifier(column)
        )
        return con.execute(query).fetchone() == (True,)

    def _too_big_for_float(self, con: Connection, column: str) -> bool:
        query = sql.SQL("SELECT min({1}), max({1}) FROM {0}").format(
            sql.Identifier(self.table), sql.Identifier(column)
        )
        row = con.execute(query).fetchone()
        return row is not None and row[0] is not None and not exact_as_float(row[0], row[1])

    def retype(
        self, con: Connection, column: str, kind: str, *, keep: bool, was: str | None = None
    ) -> None:
        """Change a column's type, converting its values (``keep``) or not (it has none)."""
        table, name, to = (
            sql.Identifier(self.table),
            sql.Identifier(column),
            sql.SQL(SQL_TYPE[kind]),
        )
        value = sql.SQL("{}::{}").format(name, to) if keep else sql.SQL("NULL::{}").format(to)
        con.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}").format(
                table, name, to, value
            )
        )
        if kind == "text" and keep:
            self.filled.add(column)
            if was == "float":
                self._float_texts(con, column)

    def _float_texts(self, con: Connection, column: str) -> None:
        """A column of floats just made text holds PostgreSQL's texts of them (``2`` for
        2.0): each becomes the float's cell text, as stet writes it (``2.0``)."""
        table, name = sql.Identifier(self.table), sql.Identifier(column)
        query = sql.SQL("SELECT DISTINCT {} FROM {} WHERE {} IS NOT NULL")
        found = [text for (text,) in con.execute(query.format(name, table, name)).fetchall()]
        changed = [(text, new) for text in found if (new := float_text(text)) != text]
        if changed:
            con.execute(
                sql.SQL(
                    "UPDATE {0} AS r SET {1} = m.new FROM unnest(%s::text[], %s::text[])"
                    " AS m(old, new) WHERE r.{1} = m.old"
                ).format(table, name),
                ([old for old, _ in changed], [new for _, new in changed]),
            )

    def add(self, con: Connection, column: str) -> None:
        """A new column: a timestamp, or one whose type its first value chooses."""
        kind = "time" if column == TIMESTAMP else "text"
        con.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                sql.Identifier(self.table),
                sql.Identifier(column_name(column)),
                sql.SQL(SQL_TYPE[kind]),
            )
        )

    def add_missing(self, con: Connection, header: Sequence[str]) -> None:
        """Add the columns of ``header`` the table lacks (without a type yet: ``text``)."""
        self.kinds = None
        kinds = self.now(con)
        missing = [c for c in header if c not in kinds]
        if missing:
            with con.transaction():
                for column in missing:
                    self.add(con, column)
                con.execute(self._bump_layout)
            self.kinds = None
