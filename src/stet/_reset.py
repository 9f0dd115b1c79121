"""``reset``: remove a store's runs: all of them, a function's, or those matching values."""

from __future__ import annotations

import os
from collections.abc import Mapping

from . import _report
from ._columns import ERROR_COLUMN
from ._defaults import DEFAULT_STORE
from ._errors import StoreNotWritableError
from ._matching import matcher, value_text
from ._registry import get_store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._values import Cell

__all__ = ["reset"]


def reset(
    store: str | os.PathLike[str] = DEFAULT_STORE,
    key_dict: Mapping[str, Any] | None = None,
    *,
    function: str | None = None,
    failed: bool = False,
    confirm: bool | None = None,
) -> None:
    """Remove records from a store: all of them, or the runs that match ``key_dict``.

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

    Raises:
        ValueError: ``key_dict`` names a column the store does not have.
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

    count = sum(chosen(snapshot.values_of(row)) for row in snapshot.rows)
    described = ", ".join(f"{c}={value_text(v)}" for c, v in (key_dict or {}).items())
    if (key_dict or failed) and not count:
        _report.nothing_to_remove(name, described, function, failed)
        return
    question = _report.reset_question(count, name, described, function, failed)
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
    if count and not _report.confirm(question, confirm):
        _report.reset_declined(full)
        return
    removed = handle.clear(function) if full else None
    if removed is None:  # records of other functions stay, or a server's table
        removed = handle.remove(lambda values: not chosen(values))
    _report.reset_done(removed, name, described, function, failed)
