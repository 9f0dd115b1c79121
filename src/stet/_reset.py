"""``reset``: remove a store's runs: all of them, a function's, or those matching values."""

from __future__ import annotations

import os
from collections.abc import Mapping

from . import _report, _reportoutputs
from ._columns import ERROR_COLUMN, OUTPUT_COLUMN
from ._defaults import DEFAULT_STORE
from ._errors import StoreNotWritableError
from ._matching import matcher, value_text
from ._registry import get_store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._outputsmove import Directory
    from ._store import Store
    from ._values import Cell

__all__ = ["reset"]


def reset(
    store: str | os.PathLike[str] = DEFAULT_STORE,
    key_dict: Mapping[str, Any] | None = None,
    *,
    function: str | None = None,
    failed: bool = False,
    confirm: bool | None = None,
    purge: bool = False,
) -> None:
    """Remove records from a store: all of them, or the runs that match ``key_dict``.

    The output directories of the removed runs (``@stet.once(outputs=...)``) are moved
    aside, never deleted: to ``<outputs>/.stet-reset/<time>/<function>/<run>/``, where
    ``<outputs>`` is the ``outputs=`` directory (``data``), after their records are
    removed. ``purge=True`` deletes them instead. A directory already gone is counted,
    not an error; one that another record of the store still names stays.

    Args:
        store: the store's path.
        key_dict: column values a run must have to be removed; every run matching all of
            them goes. A value may be the real value (``{"alpha": 0.1}``) or the text the
            store shows (``{"alpha": "0.1"}``); a string matches a cell showing that text
            or holding that string.
        function: remove only this function's runs (its qualified name).
        failed: remove only failure records (``failures="record"``), not completed runs.
        confirm: ask before removing: ``None`` (default) asks only when standard input
            is an interactive terminal, ``True`` always, ``False`` never.
        purge: delete the removed runs' output directories instead of moving them aside.

    Raises:
        ValueError: ``key_dict`` names a column the store does not have.
        PermissionError: this user may not change the store, or move (or delete) an
            output directory of a run to remove; nothing changed.
    """
    if isinstance(store, Mapping):
        raise TypeError(
            "stet.reset: the first argument is the store path; pass the values of the run "
            "to remove as key_dict=..., e.g. stet.reset(key_dict={'alpha': 0.1})"
        )
    handle = get_store(store)
    name = handle.name
    try:
        snapshot = handle.snapshot()
    except FileNotFoundError:
        if key_dict:
            raise
        _report.nothing_to_clear(name)
        return
    match = matcher(snapshot, key_dict, function, "stet.reset", name)

    def chosen(values: Mapping[str, Cell]) -> bool:
        return match(values) and (not failed or values.get(ERROR_COLUMN, "") != "")

    picked: list[dict[str, Cell]] = []
    others: list[dict[str, Cell]] = []
    for values in map(snapshot.values_of, snapshot.rows):
        (picked if chosen(values) else others).append(values)
    count = len(picked)
    described = ", ".join(f"{c}={value_text(v)}" for c, v in (key_dict or {}).items())
    if (key_dict or failed) and not count:
        _report.nothing_to_remove(name, described, function, failed)
        return
    directories = _directories(handle, picked, others)
    question = _report.reset_question(count, name, described, function, failed)
    if directories:
        roots = list(dict.fromkeys(d.root for d in directories))
        tail = _reportoutputs.reset_outputs_part(len(directories), roots, purge)
        question = question[:-1] + tail + "?"
    problem = handle.write_problem()
    if problem is not None:
        raise StoreNotWritableError(
            f"{name} cannot be changed, as {problem}; nothing changed. Ask for "
            "write access, or copy it (stet.convert) and reset the copy.",
            api="stet.reset",
        )
    # every record, or every record of the function: the store goes, with its files
    full = not key_dict and not failed
    if full and function is not None:
        full = all(snapshot.function_of(row) == function for row in snapshot.rows)
    from ._outputsmove import check_movable, move_aside, stamp
    from ._outputsmove import purge as delete_directories

    check_movable(directories, purge, name)
    if count and not _report.confirm(question, confirm):
        _report.reset_declined(full)
        return
    when = stamp()
    removed = handle.clear(function) if full else None
    if removed is None:  # records of other functions stay, or a server's table
        gone: list[dict[str, Cell]] = []
        kept: list[dict[str, Cell]] = []

        def keep(values: dict[str, Cell]) -> bool:
            staying = not chosen(values)
            (kept if staying else gone).append(values)
            return staying

        removed = handle.remove(keep)
        directories = _directories(handle, gone, kept)  # as removed: others may have come
    _report.reset_done(removed, name, described, function, failed)
    if directories:  # after the records: never a record without its directory
        done = delete_directories(directories) if purge else move_aside(directories, when)
        _reportoutputs.reset_outputs_done(
            done.moved, done.gone, done.failed, done.problem, done.places, purge
        )


def _directories(
    handle: Store, removed: list[dict[str, Cell]], kept: list[dict[str, Cell]]
) -> list[Directory]:
    """The run directories the ``removed`` records name and no ``kept`` record does."""
    from ._outputpaths import output_path
    from ._outputsmove import directory_of

    path = handle.path
    staying = {output_path(path, v[OUTPUT_COLUMN]) for v in kept if v.get(OUTPUT_COLUMN, "")}
    found: dict[object, Directory] = {}
    for values in removed:
        cell = values.get(OUTPUT_COLUMN, "")
        if cell == "":
            continue
        directory = directory_of(output_path(path, cell), values.get(ERROR_COLUMN, "") != "")
        if directory.path not in staying:
            found.setdefault(directory.path, directory)
    return list(found.values())
