"""The ``[stet] ...`` words about run outputs: what reset does with their directories,
what status says of them, and how a path or a size reads."""

from __future__ import annotations

import os

from ._output import line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

__all__ = [
    "output_last",
    "reset_outputs_done",
    "reset_outputs_part",
    "shown_path",
    "size",
    "status_lines",
]

_OUTPUT = "_stet_output"


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path as messages show it: relative to the working directory when below it."""
    text = os.fspath(path)
    try:
        here = os.getcwd()
    except OSError:  # the working directory was removed
        return text
    if os.path.isabs(text) and os.path.commonpath([here, text]) == here and text != here:
        return os.path.relpath(text, here)
    return text


def output_last(records: Sequence[dict[str, Any]], header: str) -> list[dict[str, Any]]:
    """Records (``stet show``'s) with their ``_stet_output`` last, headed ``header``
    (a long path there keeps the other columns together), unless a column of theirs is
    named so."""
    if not any(_OUTPUT in record for record in records):
        return list(records)
    if any(header in record for record in records):
        header = _OUTPUT
    moved = []
    for record in records:
        record = dict(record)
        if _OUTPUT in record:
            record[header] = record.pop(_OUTPUT)
        moved.append(record)
    return moved


def size(count: int) -> str:
    """``512 B``, ``12 kB``, ``4.1 MB``, ``1.3 GB`` (powers of 1000)."""
    if count < 1000:
        return f"{count} B"
    value = float(count)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 999.95 or unit == "PB":
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def _directories(count: int) -> str:
    return f"{count:,} output {'directory' if count == 1 else 'directories'}"


def _places(roots: Sequence[Path | str]) -> str:
    shown = [shown_path(os.path.join(root, ".stet-reset")) + os.sep for root in roots]
    return " and ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")


def reset_outputs_part(count: int, roots: Sequence[Path | str], purge: bool) -> str:
    """What reset's question adds for the ``count`` output directories of the records
    it removes: ``, and move their 3 output directories aside to data/.stet-reset/``."""
    their = "its" if count == 1 else "their"
    if purge:
        return f", and delete {their} {_directories(count)} (purge)"
    return f", and move {their} {_directories(count)} aside to {_places(roots)}"


def reset_outputs_done(
    moved: int,
    gone: int,
    failed: int,
    problem: str | None,
    places: Sequence[Path],
    purge: bool,
) -> None:
    """What reset did with the directories, after its ``Removed ...`` line: ``moved``
    (or deleted, ``purge``) to ``places``, ``gone`` already, ``failed`` (the first
    one's ``problem``)."""
    parts = []
    if moved:
        if purge:
            parts.append(f"Deleted {_directories(moved)}")
        else:
            where = " and ".join(shown_path(place) + os.sep for place in places)
            parts.append(f"Moved {_directories(moved)} aside to {where}")
    if gone:
        was = "was" if gone == 1 else "were"
        text = f"{_directories(gone)} {was} already gone"
        parts.append(text if parts else text[:1].upper() + text[1:] + "; nothing to move")
    if failed:
        parts.append(
            f"{_directories(failed)} could not be {'deleted' if purge else 'moved'} "
            f"({problem}); no record names them now, and the next run of each sets its "
            "directory aside"
        )
    if parts:
        line("; ".join(parts))


def status_lines(outputs: dict[str, dict[str, Any]]) -> list[str]:
    """Per function with outputs: its run directories and their size, then what is set
    aside (``status --json``'s ``outputs``)."""
    shown = []
    for function, facts in outputs.items():
        runs = facts["runs"]
        where = shown_path(facts["root"])
        missing = facts["missing"]
        gone = f" ({missing:,} named by records but missing)" if missing else ""
        shown.append(
            f"Outputs of {function}: {_directories(runs)}, {size(facts['bytes'])}, in {where}{gone}"
        )
        aside = facts["set_aside"]
        if aside:
            parts = [
                f"{kept['runs']:,} {reason} ({size(kept['bytes'])})"
                for reason, kept in aside.items()
            ]
            shown.append(f"  set aside in {where}/.stet-*: {', '.join(parts)}")
    return shown
