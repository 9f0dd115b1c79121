"""``status`` and ``reset``: read and prune a store as a whole."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from . import _report
from ._grid import Grid
from ._once import DEFAULT_STORE
from ._store import (
    FUNCTION_COLUMN,
    RESERVED_PREFIX,
    TIMESTAMP_COLUMN,
    FunctionIndex,
    KeySpec,
    Snapshot,
    get_store,
)
from ._values import UnsupportedValueError, cell_key, cell_text_of, key_of, record_keys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._claims import Claim
    from ._values import Cell

__all__ = ["reset", "status"]

if TYPE_CHECKING:
    StorePath = str | os.PathLike[str]


def status(
    store: StorePath = DEFAULT_STORE,
    *,
    function: str | None = None,
    grid: Mapping[str, Iterable[Any]] | Iterable[Mapping[str, Any]] | None = None,
) -> None:
    """Print what a store holds: how many runs, the last one, and the key columns.

    Runs that are running now in some worker (their claims) are counted beside the
    completed ones, with the hosts and process ids that run them.

    Args:
        store: the store's path or URL.
        function: count only this function's runs (its qualified name).
        grid: a sweep's grid (as ``stet.sweep`` takes it): also print how far the sweep
            has got, ``37/220 done (16.8%), 2 running, ETA 1h12m``. Its names must be
            the store's key columns; the ETA comes from the pace of the latest records.

    Raises:
        FileNotFoundError: no store exists at ``store``.
    """
    _status(store, function, grid, None)


def _status(
    store: StorePath,
    function: str | None,
    grid: Any,
    spec_grid: tuple[KeySpec, Grid] | None,
) -> None:
    """``status``; ``spec_grid`` is a decorated function's own key and grid, if known."""
    projected = grid is not None and spec_grid is None
    handle = get_store(store)
    running = handle.running(function)
    try:
        snapshot = handle.snapshot()
    except FileNotFoundError:
        if not running:
            raise
        snapshot = Snapshot([], [], None)  # the first runs are running: none completed yet
    if grid is not None or spec_grid is not None:
        if spec_grid is None:
            spec_grid = _store_grid(snapshot, function, grid)
        function = spec_grid[0].function
    rows = _rows_of(snapshot, function)
    stamp = snapshot.header.index(TIMESTAMP_COLUMN) if snapshot.header else -1
    last = max((str(row[stamp]) for row in rows), default="never")
    columns = _key_columns(snapshot, rows)
    count = len(rows)
    noun = "experiment" if count == 1 else "experiments"
    what = f" of {function}" if function is not None else ""
    lines = [
        f"Store: {handle.name}",
        *([_progress_line(snapshot, rows, running, *spec_grid, projected)] if spec_grid else []),
        f"{count:,} completed {noun}{what} recorded",
        *_running_lines(running),
        f"Last run: {last}",
        f"Key columns: {', '.join(columns) or '(none)'}",
    ]
    if function is None and FUNCTION_COLUMN in snapshot.header:
        counts: dict[str, int] = {}
        for row in rows:
            name = snapshot.function_of(row) or "?"
            counts[name] = counts.get(name, 0) + 1
        lines.append("Functions: " + ", ".join(f"{n} ({c:,})" for n, c in counts.items()))
    _report.lines(lines)


def _store_grid(snapshot: Snapshot, function: str | None, grid: Any) -> tuple[KeySpec, Grid]:
    """The key and grid of a sweep known only by its grid: its names are key columns."""
    owner = "stet.status(grid=...)"
    if function is None:
        functions = {snapshot.function_of(row) for row in snapshot.rows} - {None}
        if len(functions) > 1:
            raise ValueError(
                f"{owner}: the store holds runs of several functions "
                f"({', '.join(sorted(map(str, functions)))}); name one with function=..."
            )
        function = str(functions.pop()) if functions else snapshot.owner or ""
    if not isinstance(grid, Mapping) and isinstance(grid, Iterable):
        grid = list(grid)  # read twice: for its names, then its runs
    names = Grid(grid, owner, None, (), (), ()).names
    # a run's key (and its claim's) joins the values in the function's parameter order,
    # which is the order of its columns in the store
    header = snapshot.header
    names.sort(key=lambda name: header.index(name) if name in header else len(header))
    spec = KeySpec(function, tuple(names), (None,) * len(names), (None,) * len(names))
    return spec, Grid(grid, owner, None, (), spec.columns, spec.default_keys)


def _progress_line(
    snapshot: Snapshot,
    rows: list[list[Cell]],
    running: list[Claim],
    spec: KeySpec,
    grid: Grid,
    projected: bool,
) -> str:
    """``37/220 done (16.8%), 2 running, 1 failed last time, ETA 1h12m``.

    ``projected``: the grid's names are the key (a grid known without its function);
    else ``spec`` is the function's own key, defaults included.
    """
    from ._claims import run_ident
    from ._sweep import duration, last_failures

    header = snapshot.header
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else []
    done: set[bytes]
    if projected:  # the grid's names are compared; other key columns are not
        positions = [header.index(c) if c in header else -1 for c in spec.columns]
        if any(p < 0 for p in positions) or not rows:
            done = set()
        else:
            keyed = [i for i, row in enumerate(rows) if all(row[p] != "" for p in positions)]
            done = set(record_keys([[columns[p][i] for i in keyed] for p in positions]))
    else:
        index = FunctionIndex(spec)
        if rows:
            index.add_columns(header, columns)
        done = index.keys
    total, pending = grid.scan(done)
    count = total - len(pending)
    left = {run_ident(spec.function, key) for _, key in pending} if running else set()
    now = sum(1 for claim in running if claim.ident in left)
    share = f" ({100 * count / total:.1f}%)" if total else ""
    parts = [f"{count:,}/{total:,} done{share}", f"{now:,} running"]
    failed = last_failures(spec.function)
    if failed:
        parts.append(f"{failed:,} failed last time")
    if pending:
        stamp = snapshot.header.index(TIMESTAMP_COLUMN)
        seconds = _eta([str(row[stamp]) for row in rows[-_PACE_RECORDS:]], len(pending), now)
        if seconds is not None:
            parts.append(f"ETA {duration(seconds)}")
    return ", ".join(parts)


_PACE_RECORDS = 100  # the ETA follows the pace of this many latest records


def _eta(stamps: list[str], left: int, running: int) -> float | None:
    """Seconds until ``left`` more runs are done at the pace of the latest records.

    None when the pace is unknown, or when the sweep seems to have stopped: nothing
    is running and no record came for ten times the usual interval.
    """
    import time
    from datetime import datetime

    try:
        times = sorted(datetime.fromisoformat(stamp).timestamp() for stamp in stamps)
    except ValueError:
        return None
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    interval = (times[-1] - times[0]) / (len(times) - 1)
    if not running and time.time() - times[-1] > max(60.0, 10 * interval):
        return None
    return left * interval


def _running_lines(claims: list[Claim], hosts_shown: int = 5, pids_shown: int = 8) -> list[str]:
    """``3 running now: node1 (pids 4121, 4122), node2 (pid 77)``, or nothing."""
    if not claims:
        return []
    pids: dict[str, set[int]] = {}
    for claim in claims:
        pids.setdefault(claim.worker.host, set()).add(claim.worker.pid)
    parts = []
    for host, numbers in list(pids.items())[:hosts_shown]:
        listed = sorted(numbers)
        shown = ", ".join(map(str, listed[:pids_shown]))
        if len(listed) > pids_shown:
            shown += f" and {len(listed) - pids_shown} more"
        parts.append(f"{host} ({'pid' if len(listed) == 1 else 'pids'} {shown})")
    if len(pids) > hosts_shown:
        parts.append(f"and {len(pids) - hosts_shown} more hosts")
    return [f"{len(claims):,} running now: {', '.join(parts)}"]


def _rows_of(snapshot: Snapshot, function: str | None) -> list[list[Cell]]:
    if function is None:
        return snapshot.rows
    return [row for row in snapshot.rows if snapshot.function_of(row) == function]


def _key_columns(snapshot: Snapshot, rows: list[list[Cell]]) -> list[str]:
    if not rows:
        return [c for c in snapshot.header if not c.startswith(RESERVED_PREFIX)]
    used: set[str] = set()
    for row in rows:
        used.update(snapshot.key_columns_of(row))
    return [c for c in snapshot.header if c in used]


def reset(
    store: StorePath = DEFAULT_STORE,
    key_dict: Mapping[str, Any] | None = None,
    *,
    function: str | None = None,
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
        _report.line(f"No store at {name}; nothing to clear")
        return
    wanted = _wanted(snapshot, key_dict or {}, name)

    def matches(values: Mapping[str, Cell]) -> bool:
        if function is not None and values.get(FUNCTION_COLUMN) != function:
            return False
        return all(_cell_matches(values.get(c, ""), text, key) for c, text, key in wanted)

    header = snapshot.header
    count = sum(
        matches(
            {
                **dict(zip(header, row, strict=True)),
                FUNCTION_COLUMN: snapshot.function_of(row) or "",
            }
        )
        for row in snapshot.rows
    )
    described = ", ".join(f"{c}={text}" for c, text, _ in wanted)
    if key_dict and not count:
        _report.line(f"No run in {name} matches {described}; nothing removed")
        return
    noun = "run" if count == 1 else "runs"
    question = (
        f"Remove {count:,} {noun} matching {described} from {name}?"
        if key_dict
        else f"Clear all {count:,} {noun}{_of(function)} from {name}?"
    )
    if count and not _report.confirm(question, confirm):
        _report.line("Nothing changed")
        return
    removed = handle.remove(lambda values: not matches(values))
    noun = "run" if removed == 1 else "runs"
    if key_dict:
        _report.line(f"Removed {removed:,} {noun} matching {described} from {name}")
    elif function is not None:
        _report.line(f"Cleared {removed:,} {noun}{_of(function)} from {name}")
    else:
        _report.line(f"Store cleared: {name}")


def _of(function: str | None) -> str:
    return f" of {function}" if function is not None else ""


def _wanted(
    snapshot: Snapshot, key_dict: Mapping[str, Any], name: str
) -> list[tuple[str, str, bytes | None]]:
    columns = [c for c in snapshot.header if not c.startswith(RESERVED_PREFIX)]
    wanted: list[tuple[str, str, bytes | None]] = []
    for column, value in key_dict.items():
        if column not in columns:
            raise ValueError(
                f"stet.reset: {name} has no column {column!r}; its key columns are: "
                f"{', '.join(columns) or '(none)'}"
            )
        try:
            key = key_of(value)
        except UnsupportedValueError as error:
            raise TypeError(f"stet.reset: value of {column!r}: {error}") from None
        wanted.append((column, value if isinstance(value, str) else repr(value), key))
    return wanted


def _cell_matches(cell: Cell, text: str, key: bytes | None) -> bool:
    if cell == "":
        return False
    return cell_text_of(cell) == text or cell_key(cell) == key
