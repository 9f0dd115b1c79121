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

    from ._outputsmove import Done

__all__ = ["reset_outputs_done", "reset_outputs_part", "shown_path", "size", "status_lines"]


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


def reset_outputs_done(done: Done, purge: bool) -> None:
    """What reset did with the directories, after its ``Removed ...`` line."""
    parts = []
    if done.moved:
        if purge:
            parts.append(f"Deleted {_directories(done.moved)}")
        else:
            where = " and ".join(shown_path(place) + os.sep for place in done.places)
            parts.append(f"Moved {_directories(done.moved)} aside to {where}")
    if done.gone:
        was = "was" if done.gone == 1 else "were"
        gone = f"{_directories(done.gone)} {was} already gone"
        parts.append(gone if parts else gone[:1].upper() + gone[1:] + "; nothing to move")
    if done.failed:
        count = _directories(done.failed)
        parts.append(
            f"{count} could not be {'deleted' if purge else 'moved'} ({done.problem}); no "
            "record names them now, and the next run of each sets its directory aside"
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
