"""Choosing a snapshot's records: which match given values, and when each was recorded."""

from __future__ import annotations

from datetime import datetime

from ._columns import FUNCTION_COLUMN, RESERVED_PREFIX, TIMESTAMP_COLUMN
from ._errors import DamagedStoreError, UnknownColumnError, UnsupportedValueError
from ._snapshot import Snapshot
from ._values import key_of, key_of_cell, text_of_cell

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from ._values import Cell

__all__ = ["matcher", "record_times", "value_text"]


def matcher(
    snapshot: Snapshot,
    key_dict: Mapping[str, Any] | None,
    function: str | None,
    api: str,
    store: str,
) -> Callable[[Mapping[str, Cell]], bool]:
    """Whether a record (column -> cell, its function filled in) is of ``function``
    and has every value of ``key_dict``.

    A value may be the real value (``0.1``) or the text the store shows (``"0.1"``).
    :class:`UnknownColumnError` names a column the store does not have; ``api``
    (``stet.reset``) and ``store`` (its name) start the messages.
    """
    columns = tuple(c for c in snapshot.header if not c.startswith(RESERVED_PREFIX))
    wanted: list[tuple[str, str, bytes | None]] = []
    for column, value in (key_dict or {}).items():
        if column not in columns:
            raise UnknownColumnError(
                f"{store} has no column {column!r}; its columns are: "
                f"{', '.join(columns) or '(none)'}",
                api=api,
                store=store,
                column=column,
                columns=columns,
            )
        try:
            key = key_of(value)
        except UnsupportedValueError as error:
            raise UnsupportedValueError(f"{store}: value of {column!r}: {error}", api=api) from None
        wanted.append((column, value_text(value), key))

    def matches(values: Mapping[str, Cell]) -> bool:
        if function is not None and values.get(FUNCTION_COLUMN) != function:
            return False
        return all(_cell_matches(values.get(c, ""), text, key) for c, text, key in wanted)

    return matches


def value_text(value: Any) -> str:
    """A value to match as messages show it: text as it is, anything else as its repr."""
    return value if isinstance(value, str) else repr(value)


def _cell_matches(cell: Cell, text: str, key: bytes | None) -> bool:
    if cell == "":
        return False
    return text_of_cell(cell) == text or key_of_cell(cell) == key


def record_times(snapshot: Snapshot, name: str) -> list[datetime | None]:
    """Each record's ``_stet_timestamp`` as a ``datetime`` (None: the record has none).

    Raises:
        DamagedStoreError: a timestamp is not ISO 8601; the message names its line.
    """
    if TIMESTAMP_COLUMN not in snapshot.header:
        return [None] * (len(snapshot.columns[0]) if snapshot.header else 0)
    stamps = snapshot.columns[snapshot.header.index(TIMESTAMP_COLUMN)]
    read = datetime.fromisoformat
    try:
        return [None if stamp == "" else read(str(stamp)) for stamp in stamps]
    except (TypeError, ValueError):
        pass
    for number, stamp in enumerate(stamps, start=snapshot.first_line):
        try:
            if stamp != "":
                read(str(stamp))
        except (TypeError, ValueError):
            raise DamagedStoreError(
                f"{name} is damaged: line {number:,} has the {TIMESTAMP_COLUMN} {stamp!r}, "
                "which is not an ISO 8601 time (stet writes 2026-03-12T11:48:59.428485+00:00). "
                "Repair or delete that line; stet changed nothing."
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover
