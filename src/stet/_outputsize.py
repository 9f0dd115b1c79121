"""What ``status`` says of run outputs: per function, its run directories and their size,
and what is set aside beside them (``.stet-interrupted``, ``.stet-failed``, ...)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ._columns import ERROR_COLUMN, OUTPUT_COLUMN
from ._outputpaths import STAGING, function_dir_name, output_path
from ._outputsmove import directory_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._snapshot import Snapshot
    from ._values import Cell

__all__ = ["outputs_facts", "tree_size"]


def outputs_facts(
    snapshot: Snapshot, rows: list[list[Cell]], store_path: str
) -> dict[str, dict[str, Any]]:
    """Per function whose records name output directories: ``root`` (its outputs
    directory), ``runs`` (completed runs whose directory is there), ``missing`` (those
    whose directory is not), ``bytes`` (their total size) and ``set_aside`` (per reason,
    ``interrupted``, ``failed``, ...: the ``runs`` and ``bytes`` of its directories set
    aside there). A walk of the directories: no record is read twice."""
    header = snapshot.header
    if OUTPUT_COLUMN not in header:
        return {}
    at = header.index(OUTPUT_COLUMN)
    error_at = header.index(ERROR_COLUMN) if ERROR_COLUMN in header else -1
    found: dict[str, dict[str, Any]] = {}
    seen: set[Path] = set()
    roots: dict[str, list[Path]] = {}
    for row in rows:
        cell = row[at]
        if cell == "":
            continue
        function = snapshot.function_of(row) or "?"
        failure = error_at >= 0 and row[error_at] != ""
        directory = directory_of(output_path(store_path, cell), failure)
        facts = found.setdefault(
            function,
            {"root": str(directory.root), "runs": 0, "missing": 0, "bytes": 0, "set_aside": {}},
        )
        if directory.root not in roots.setdefault(function, []):
            roots[function].append(directory.root)
        if failure or directory.path in seen:
            continue  # a failure's directory is counted with what is set aside
        seen.add(directory.path)
        if os.path.isdir(directory.path):
            facts["runs"] += 1
            facts["bytes"] += tree_size(directory.path)
        else:
            facts["missing"] += 1
    for function, facts in found.items():
        for root in roots[function]:
            _add_set_aside(facts["set_aside"], root, function_dir_name(function))
    return found


def _add_set_aside(counts: dict[str, dict[str, int]], root: Path, function_dir: str) -> None:
    """Count the directories of a function set aside in ``root/.stet-<reason>/<time>/``."""
    try:
        names = sorted(n for n in os.listdir(root) if n.startswith(".stet-") and n != STAGING)
    except OSError:
        return
    for name in names:
        reason = name[len(".stet-") :]
        try:
            stamps = os.listdir(root / name)
        except OSError:
            continue
        for stamp in stamps:
            place = root / name / stamp / function_dir
            try:
                runs = [entry.path for entry in os.scandir(place) if entry.is_dir()]
            except OSError:
                continue
            if runs:
                kept = counts.setdefault(reason, {"runs": 0, "bytes": 0})
                kept["runs"] += len(runs)
                kept["bytes"] += sum(tree_size(Path(run)) for run in runs)


def tree_size(top: Path) -> int:
    """The bytes of the files below ``top`` (symbolic links not followed)."""
    total = 0
    for directory, _, files in os.walk(top):
        for name in files:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total
