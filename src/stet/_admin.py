"""``status``: what a store holds, and how far a sweep over it has got."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime

from . import _report
from ._columns import ERROR_COLUMN, FUNCTION_COLUMN, RESERVED_PREFIX, TIMESTAMP_COLUMN
from ._defaults import DEFAULT_STORE
from ._grid import Grid
from ._index import FunctionIndex, KeySpec
from ._matching import record_times
from ._provenance import runs_per_version
from ._registry import get_store
from ._results import is_result_column
from ._snapshot import Snapshot, completed_stamps
from ._store import Store
from ._values import key_of_cell, record_keys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from ._claims import Claim
    from ._values import Cell

__all__ = [
    "function_status",
    "last_failures",
    "note_failures",
    "print_status",
    "status",
    "status_data",
]

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
    completed ones, with the hosts and process ids that run them. A function with
    outputs (``@stet.once(outputs=...)``) has a line of its run directories and their
    total size, and one of what is set aside beside them (interrupted, failed, reset
    runs' directories), if anything is. When a function's
    runs were recorded by several versions of its code (or from several files), its
    code history follows: the runs of each version, oldest first.

    Args:
        store: the store's path or URL.
        function: count only this function's runs (its qualified name).
        grid: a sweep's grid (as ``stet.sweep`` takes it): also print how far the sweep
            has got, ``37/220 done (16.8%), 2 running, ETA 1h12m``. Its names must be
            the store's key columns; the ETA comes from the pace of the latest records.

    No store at ``store`` is one line saying so.
    """
    _status(store, function, grid, None)


def print_status(store: StorePath, function: str | None = None) -> None:
    """:func:`status` for the command line: no store is a ``FileNotFoundError``."""
    _status(store, function, None, None, missing_ok=False)


def function_status(store: StorePath, spec: KeySpec, grid: Grid | None) -> None:
    """A decorated function's ``status``: ``spec`` is its own key, ``grid`` its sweep's."""
    _status(store, spec.function, None, None if grid is None else (spec, grid))


def _status(
    store: StorePath,
    function: str | None,
    grid: Any,
    spec_grid: tuple[KeySpec, Grid] | None,
    missing_ok: bool = True,
) -> None:
    """``status``; ``spec_grid`` is a decorated function's own key and grid, if known.

    No store is one line (``missing_ok``), or ``FileNotFoundError``.
    """
    projected = grid is not None and spec_grid is None
    try:
        handle, snapshot, running = _read(store, function)
    except FileNotFoundError:
        if not missing_ok:
            raise
        _report.line(_report.no_store(get_store(store).name))
        return
    if grid is not None or spec_grid is not None:
        if spec_grid is None:
            spec_grid = _store_grid(snapshot, function, grid)
        function = spec_grid[0].function
    facts = _facts(handle.name, snapshot, running, function)
    facts["history"] = _history_facts(handle, snapshot, function)
    from ._outputsize import outputs_facts  # loaded at a status only

    facts["outputs"] = outputs_facts(snapshot, _rows_of(snapshot, function), handle.path)
    progress = None
    if spec_grid is not None:
        rows = _rows_of(snapshot, function)
        progress = _progress_line(snapshot, rows, running, *spec_grid, projected)
    functions = function is None and FUNCTION_COLUMN in snapshot.header
    _report.lines(_report.status_lines(facts, function, progress, functions))


def _history_facts(
    handle: Store, snapshot: Snapshot, function: str | None
) -> dict[str, list[dict[str, Any]]]:
    """Per function whose runs still in the store were recorded by more than one
    version of its code: those versions, oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, entries in handle.history().items():
        if (function is not None and name != function) or not isinstance(entries, list):
            continue
        counts = runs_per_version(entries, completed_stamps(snapshot, name))
        versions: list[dict[str, Any]] = [
            {
                "code": entry.get("code"),
                "file": entry.get("file"),
                "module": entry.get("module"),
                "since": entry.get("since"),
                "runs": runs,
            }
            for entry, runs in zip(entries, counts[1:], strict=True)
            if runs
        ]
        if counts[0]:
            before = {"code": None, "file": None, "module": None, "since": None}
            versions.insert(0, {**before, "runs": counts[0]})
        if len(versions) > 1:  # one version: nothing to tell
            found[name] = versions
    return found


def status_data(store: StorePath = DEFAULT_STORE, *, function: str | None = None) -> dict[str, Any]:
    """What :func:`status` prints, as a JSON-ready dict (for ``stet status --json``).

    Keys: ``store``, ``completed``, ``failed`` (runs whose latest record is a failure),
    ``latest_error``, ``running`` (one dict per live claim: ``function``, ``host``,
    ``pid``), ``last_run`` (ISO 8601 text or None), ``key_columns``,
    ``result_columns``, ``functions`` (completed runs per function) and ``history``
    (per function whose runs were recorded by more than one version of its code, those
    versions, oldest first: each ``code`` (its fingerprint), ``file``, ``module``,
    ``since`` and ``runs``; a first one with ``code`` None counts runs from before stet
    kept a history) and ``outputs`` (per function whose records name output
    directories: ``root``, its outputs directory; ``runs``, completed runs whose
    directory is there, ``missing``, those whose directory is not, and ``bytes``, their
    total size; ``set_aside``, per reason (``interrupted``, ``failed``, ``reset``,
    ``duplicate``), the ``runs`` and ``bytes`` of its directories set aside there).

    Raises:
        FileNotFoundError: no store exists at ``store``.
    """
    handle, snapshot, running = _read(store, function)
    facts = _facts(handle.name, snapshot, running, function)
    facts["history"] = _history_facts(handle, snapshot, function)
    from ._outputsize import outputs_facts

    facts["outputs"] = outputs_facts(snapshot, _rows_of(snapshot, function), handle.path)
    return facts


def _read(store: StorePath, function: str | None) -> tuple[Store, Snapshot, list[Claim]]:
    """A store's handle, records and live claims (of one function, if given)."""
    handle = get_store(store)
    running = handle.claims.running(function)
    try:
        snapshot = handle.snapshot()
    except FileNotFoundError:
        if not running:
            raise
        snapshot = Snapshot([], [], None)  # the first runs are running: none completed yet
    return handle, snapshot, running


def _facts(
    name: str, snapshot: Snapshot, running: list[Claim], function: str | None
) -> dict[str, Any]:
    rows = _rows_of(snapshot, function)
    header = snapshot.header
    error_at = header.index(ERROR_COLUMN) if ERROR_COLUMN in header else -1
    completed = [row for row in rows if error_at < 0 or row[error_at] == ""]
    stamp = snapshot.header.index(TIMESTAMP_COLUMN) if snapshot.header else -1
    counts: dict[str, int] = {}
    for row in completed:
        label = snapshot.function_of(row) or "?"
        counts[label] = counts.get(label, 0) + 1
    failed, latest = _failed_runs(snapshot, rows)
    record_times(snapshot, name)  # a damaged one is an error here as in load and records
    return {
        "store": name,
        "completed": len(completed),
        "failed": failed,
        "latest_error": latest,
        "running": [
            {"function": c.function, "host": c.worker.host, "pid": c.worker.pid} for c in running
        ],
        "last_run": max((str(row[stamp]) for row in completed), default=None),
        "key_columns": _key_columns(snapshot, rows),
        "result_columns": [
            c for c in snapshot.header if is_result_column(c) and _holds(snapshot, rows, c)
        ],
        "functions": counts,
    }


def _failed_runs(snapshot: Snapshot, rows: list[list[Cell]]) -> tuple[int, str | None]:
    """How many runs have a failure record and no completed one; the latest error."""
    if ERROR_COLUMN not in snapshot.header:
        return 0, None
    error_at = snapshot.header.index(ERROR_COLUMN)
    completed: set[tuple[object, ...]] = set()
    failed: dict[tuple[object, ...], str] = {}
    for row in rows:
        run = _run_of(snapshot, row)
        if row[error_at] == "":
            completed.add(run)
        else:
            failed.pop(run, None)  # the latest failure last, whatever run failed first
            failed[run] = str(row[error_at])
    errors = [error for run, error in failed.items() if run not in completed]
    return len(errors), (errors[-1] if errors else None)


def _run_of(snapshot: Snapshot, row: Sequence[Cell]) -> tuple[object, ...]:
    """A record's run: its function and the keys of its key cells, by column."""
    return (
        snapshot.function_of(row),
        *((c, key_of_cell(row[snapshot.header.index(c)])) for c in snapshot.key_columns_of(row)),
    )


def _holds(snapshot: Snapshot, rows: list[list[Cell]], column: str) -> bool:
    at = snapshot.header.index(column)
    return any(row[at] != "" for row in rows)


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

    header = snapshot.header
    done, failed_keys = _done_and_failed(header, rows, spec, projected)
    total, pending = grid.scan(done)
    count = total - len(pending)
    left = {run_ident(spec.function, key) for _, key in pending} if running else set()
    now = sum(1 for claim in running if claim.ident in left)
    if failed_keys:  # recorded (failures=...): what the store says
        failed = sum(1 for _, key in pending if key in failed_keys)
    else:  # known only to this process, from its last sweep
        failed = last_failures(spec.function) or 0
    seconds = None
    if len(pending) > failed:  # runs left that have not failed: their time can be told
        stamp = snapshot.header.index(TIMESTAMP_COLUMN)
        remaining = len(pending) - failed
        seconds = _eta([str(row[stamp]) for row in rows[-_PACE_RECORDS:]], remaining, now)
    return _report.progress_line(count, total, now, failed, seconds)


_last_failures: dict[str, int] = {}  # function -> failures of its last sweep in this process


def last_failures(function: str) -> int | None:
    """How many runs failed in this process's last sweep of ``function`` (None: no sweep)."""
    return _last_failures.get(function)


def note_failures(function: str, failed: int) -> None:
    """A sweep of ``function`` in this process ended with ``failed`` runs failed."""
    _last_failures[function] = failed


def _done_and_failed(
    header: list[str], rows: list[list[Cell]], spec: KeySpec, projected: bool
) -> tuple[set[bytes], set[bytes]]:
    """The keys of the completed runs and of the runs with a failure record.

    ``projected``: only the key columns in ``spec`` are compared (a grid's names).
    """
    if not projected:
        index = FunctionIndex(spec)
        if rows:
            index.add_columns(header, [list(column) for column in zip(*rows, strict=True)])
        return index.keys, set(index.failed)
    positions = [header.index(c) if c in header else -1 for c in spec.columns]
    if any(p < 0 for p in positions) or not rows:
        return set(), set()
    error_at = header.index(ERROR_COLUMN) if ERROR_COLUMN in header else -1
    completed: list[list[Cell]] = []
    failed: list[list[Cell]] = []
    for row in rows:
        if all(row[p] != "" for p in positions):
            (failed if error_at >= 0 and row[error_at] != "" else completed).append(row)

    def keys(group: list[list[Cell]]) -> set[bytes]:
        return set(record_keys([[row[p] for row in group] for p in positions], len(group)))

    return keys(completed), keys(failed)


_PACE_RECORDS = 100  # the ETA follows the pace of this many latest records


def _eta(stamps: list[str], left: int, running: int) -> float | None:
    """Seconds until ``left`` more runs are done at the pace of the latest records.

    None when the pace is unknown, or when the sweep seems to have stopped: nothing
    is running and no record came for ten times the usual interval.
    """
    import time

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
