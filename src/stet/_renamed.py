"""A function renamed: records of another function with exactly this one's key columns.

When a function has no records under its name, the store may hold its runs under the
name it had before; :func:`renamed_from` names such functions and the way to keep
their runs (``@stet.once(name="old_name")``).
"""

from __future__ import annotations

from ._columns import FUNCTION_COLUMN
from ._nearest import counts, key_columns, split_failures

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._nearest import Wanted
    from ._snapshot import Snapshot

__all__ = ["holding_exactly", "renamed_from"]


def holding_exactly(snapshot: Snapshot, rows: Sequence[int], columns: set[str]) -> list[int]:
    """The records of ``rows`` whose key columns are exactly ``columns``."""
    header = snapshot.header
    if not columns <= set(header):
        return []
    kept = list(rows)
    for column in key_columns(header):
        cells = snapshot.columns[header.index(column)]
        held = column in columns
        kept = [row for row in kept if (cells[row] != "") is held]
    return kept


def _same_columns(
    snapshot: Snapshot, label: str, wanted: Sequence[Wanted]
) -> list[tuple[str, list[int], list[int]]]:
    """Other functions whose completed records have exactly this function's key columns:
    (function, those records, every record of it), most records first."""
    header = snapshot.header
    columns = {w.column for w in wanted}
    labels = (
        snapshot.columns[header.index(FUNCTION_COLUMN)]
        if FUNCTION_COLUMN in header
        else [""] * len(snapshot.columns[0])
    )
    default = snapshot.owner or ""
    by_function: dict[str, list[int]] = {}
    for i, label_cell in enumerate(labels):
        by_function.setdefault(str(label_cell) or default, []).append(i)
    by_function.pop(label, None)
    by_function.pop("", None)
    found = []
    for other, rows in by_function.items():
        done = split_failures(snapshot, rows)[0]
        same = holding_exactly(snapshot, done, columns)
        found.append((other, same, rows))
    return sorted(found, key=lambda item: (-len(item[1]), -len(item[2])))


def renamed_from(
    snapshot: Snapshot, label: str, wanted: Sequence[Wanted]
) -> tuple[list[str], tuple[str, list[int]] | None]:
    """Functions whose records have this function's key columns (a name it had before?),
    and the likeliest one with those records."""
    if not snapshot.header or not snapshot.columns[0]:
        return ["(the store holds no records yet)"], None
    found = _same_columns(snapshot, label, wanted)
    lines = []
    for other, same, _ in found:
        if not same:
            continue
        exact = [i for i, n in zip(same, counts(snapshot, same, wanted), strict=True) if n == 0]
        these = ", one with these very values" if exact else ""
        lines.append(
            f"{other} has {len(same):,} records with the same columns "
            f"({', '.join(w.column for w in wanted)}){these}: if {label} was {other} "
            f'renamed, @stet.once(name="{other}") keeps its runs'
        )
    if not lines:
        names = ", ".join(f"{f} ({len(rows):,})" for f, _, rows in found)
        lines.append(f"its records are of other functions: {names or 'unnamed'}")
    best = found[0] if found and found[0][1] else None
    return lines, None if best is None else (best[0], best[1])
