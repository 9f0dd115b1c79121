"""What ``stet.sweep`` costs per run beyond the decorator's own, beside its peers.

Run it from the repository root, with the ``bench`` extra installed
(``pip install -e ".[bench]"``: numpy, joblib, psutil, pyarrow)::

    python benchmarks/sweep.py                  # the full run: about 8 minutes on 2 cores
    python benchmarks/sweep.py --quick          # a grid of 10^4 runs, one repeat
    python benchmarks/sweep.py --formats csv,sqlite --repeats 5 --json results.json

``trial(alpha, seed)`` (see ``_trial.py``) over a grid of 10^5 trivial runs (10^4 with
``--quick``), per store format, from an empty store, each measurement in a fresh process
on a fresh store, repeated (``--repeats``, 3 by default; the repeats go round all the rows
in turn) and shown as the median:

* ``stet.sweep(trial, grid, progress=False)``, in the process;
* the decorator alone: ``for kw in combos: trial(**kw)`` over the same combinations (made
  before the clock starts); the runner's own overhead per run is the sweep's time minus
  this loop's, per run, repeat by repeat;
* ``stet.sweep(trial, grid, executor=pool)`` with a ``ProcessPoolExecutor(2)``, timed from
  creating the pool to its shutdown;
* for the first format, the in-process sweep with ``progress="always"`` and standard
  error sent to ``os.devnull``: what drawing the bar costs.

Beside them, in the same run: ``joblib.Parallel(n_jobs=2)`` over a
``joblib.Memory(...).cache``-d function, and ``ProcessPoolExecutor(2).map`` with no stet
(the floor), with ``chunksize=1`` and ``chunksize=1000``. After each stet row a second
sweep (not timed) must find every run done and run none. CPU per run is the measuring
process's user + system time plus its pool workers' (joblib's, which it keeps, read with
psutil): on a shared machine the steadier figure. Tables to stdout, progress to stderr.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _trial
from _harness import (
    FORMATS,
    Clock,
    chosen_settings,
    command_line,
    context,
    measure_and_report,
    progress,
    repeats_note,
    run_worker,
    section,
    table,
    worker_main,
)
from _trial import FULL, POOL_WORKERS, QUICK, QUICK_HELP, Settings, combinations, make_grid

SWEEP, LOOP, POOL, BAR = "sweep", "loop", "pool", "bar"
JOBLIB, MAP_1, MAP_1000 = "joblib", "map", "map1000"
KINDS = {  # the kinds of row, in the order they are shown
    SWEEP: "`stet.sweep(f, grid)`, in-process",
    LOOP: "decorated loop, `for kw in combos: f(**kw)`",
    POOL: "`stet.sweep(f, grid, executor=ProcessPoolExecutor(2))`",
    BAR: '`stet.sweep(f, grid, progress="always")`, bar to devnull',
    JOBLIB: "joblib `Parallel(n_jobs=2)` over `Memory(...).cache(f)`",
    MAP_1: "`ProcessPoolExecutor(2).map(f, ...)`, no stet",
    MAP_1000: "`ProcessPoolExecutor(2).map(f, ..., chunksize=1000)`, no stet",
}
PEER_KINDS = (JOBLIB, MAP_1, MAP_1000)


def bare(alpha: float, seed: int) -> None:
    """The same trivial run for the peers: never decorated."""
    return None


def cpu_s() -> float:
    """CPU time (user + system) of this process and of its children that ended."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def live_children_cpu_s() -> float:
    """CPU time of this process's children still running (joblib keeps its workers)."""
    import psutil  # type: ignore[import-untyped]

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            used = child.cpu_times()
            total += used.user + used.system
    return total


def measure_stet(spec: dict[str, Any]) -> dict[str, Any]:
    """One stet row, in this fresh process, on a fresh store."""
    kind, points = spec["kind"], spec["points"]
    func = _trial.bind_trial(spec["store"])
    grid = make_grid(points)
    combos = combinations(grid)
    problems = []
    with contextlib.ExitStack() as stack:
        progress: bool | str = False
        if kind == BAR:
            devnull = stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stderr(devnull))
            progress = "always"
        pool = stack.enter_context(ProcessPoolExecutor(POOL_WORKERS)) if kind == POOL else None
        cpu, start = cpu_s(), time.perf_counter()
        if kind == LOOP:
            for kwargs in combos:
                func(**kwargs)
            ran, failed = points, 0
        else:
            summary = _trial.quiet_sweep(func, grid, executor=pool, progress=progress)
            ran, failed = summary.ran, summary.failed
        if pool is not None:
            pool.shutdown()  # its workers end: their CPU is counted
        wall, cpu = time.perf_counter() - start, cpu_s() - cpu
    calls = _trial.take_calls()
    if ran != points or failed or (kind != POOL and calls != points):
        problems.append(f"{ran} ran, {failed} failed, the body ran {calls} times")
    again = _trial.quiet_sweep(func, grid, progress=False)
    if again.done_before != points or again.ran or again.failed:
        problems.append(f"rerun: {again.done_before} done before, {again.ran} ran")
    if calls := _trial.take_calls():
        problems.append(f"the rerun ran the body {calls} times")
    return {"wall_s": wall, "cpu_s": cpu, "check": "; ".join(problems) or "ok"}


def measure_peer(spec: dict[str, Any]) -> dict[str, Any]:
    """One peer row, in this fresh process."""
    kind, points = spec["kind"], spec["points"]
    combos = combinations(make_grid(points))
    if kind == JOBLIB:
        import joblib  # type: ignore[import-untyped]

        location = spec["store"]
        cached = joblib.Memory(location=location, verbose=0).cache(bare)
        cpu, start = cpu_s(), time.perf_counter()
        joblib.Parallel(n_jobs=POOL_WORKERS)(joblib.delayed(cached)(**kw) for kw in combos)
        wall = time.perf_counter() - start
        cpu = cpu_s() - cpu + live_children_cpu_s()  # its workers live on, idle
        entries = sum(
            1
            for folder, names, _ in os.walk(location)
            for name in names
            if os.path.exists(os.path.join(folder, name, "output.pkl"))
        )
        check = "ok" if entries == points else f"{entries} results cached"
    else:
        alphas, seeds = [kw["alpha"] for kw in combos], [kw["seed"] for kw in combos]
        cpu, start = cpu_s(), time.perf_counter()
        with ProcessPoolExecutor(POOL_WORKERS) as pool:
            chunk = 1000 if kind == MAP_1000 else 1
            results = list(pool.map(bare, alphas, seeds, chunksize=chunk))
        wall, cpu = time.perf_counter() - start, cpu_s() - cpu
        check = "ok" if len(results) == points else f"{len(results)} results"
    return {"wall_s": wall, "cpu_s": cpu, "check": check}


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "stet": measure_stet,
    "peer": measure_peer,
}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    return run_worker(__file__, spec, _trial.worker_env())


@dataclass
class Row:
    """One way of running the grid, with one store format."""

    kind: str  # a key of KINDS
    format: str  # a key of FORMATS; "" for the peers
    points: int
    walls: list[float] = field(default_factory=list)  # one per repeat
    cpus: list[float] = field(default_factory=list)  # this process's and its workers'
    checks: list[str] = field(default_factory=list)

    def us_per_run(self, values: Sequence[float]) -> float:
        return statistics.median(values) / self.points * 1e6


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    formats: list[str]
    rows: list[Row]
    start_method: str
    clock: Clock


def plan(s: Settings, formats: Sequence[str]) -> list[Row]:
    rows = [Row(kind, name, s.points) for name in formats for kind in (SWEEP, LOOP, POOL)]
    rows.append(Row(BAR, formats[0], s.points))
    return rows + [Row(kind, "", s.points) for kind in PEER_KINDS]


def measure_row(row: Row, work: Path, repeat: int) -> None:
    home = work / f"{row.kind}-{row.format or 'peer'}-{repeat}"
    home.mkdir()
    try:
        if row.format:
            spec = {"worker": "stet", "store": str(home / f"store{FORMATS[row.format]}")}
        else:
            spec = {"worker": "peer", "store": str(home / "joblib")}
        found = measure({**spec, "kind": row.kind, "points": row.points})
    finally:
        shutil.rmtree(home, ignore_errors=True)
    row.walls.append(found["wall_s"])
    row.cpus.append(found["cpu_s"])
    row.checks.append(found["check"])


def run(s: Settings, work: Path, formats: Sequence[str]) -> Results:
    clock = Clock()
    _trial.keep_bytecode(work)
    rows = plan(s, formats)
    for repeat in range(s.repeats):  # repeats outermost: noise spreads over every row
        for row in rows:
            where = f" ({row.format})" if row.format else ""
            progress("sweep", f"repeat {repeat + 1}/{s.repeats}: {row.kind}{where}")
            measure_row(row, work, repeat)
    return Results(s, list(formats), rows, multiprocessing.get_start_method(), clock.stop())


def us(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 100 else f"{value:,.0f}"


def overhead(row: Row, rows: Sequence[Row], cpu: bool = False) -> str:
    """The runner's cost per run beyond the decorator's: the in-process sweep's wall time
    (or CPU time) minus the decorated loop's, per run, repeat by repeat; the median."""
    if row.kind not in (SWEEP, BAR):
        return "-"
    loop = next(r for r in rows if r.kind == LOOP and r.format == row.format)
    mine, theirs = (row.cpus, loop.cpus) if cpu else (row.walls, loop.walls)
    return us(row.us_per_run([a - b for a, b in zip(mine, theirs, strict=True)]))


def sweep_table(rows: Sequence[Row]) -> str:
    header = ["how", "format", "wall (s)", "us per run", "runner overhead (us per run)"]
    header += ["CPU per run (us)", "runner overhead, CPU (us per run)", "store afterwards"]
    lines = [
        [
            KINDS[row.kind],
            row.format or "-",
            f"{statistics.median(row.walls):.3f}",
            us(row.us_per_run(row.walls)),
            overhead(row, rows),
            us(row.us_per_run(row.cpus)),
            overhead(row, rows, cpu=True),
            "; ".join(sorted(set(row.checks))),
        ]
        for row in rows
    ]
    return table(header, lines)


def report(results: Results) -> str:
    s = results.settings
    details = f"process pools start workers by {results.start_method}; "
    packages = ("joblib", "numpy", "tqdm", "pyarrow")
    return "\n\n".join(
        [
            context(results.clock, packages, details + repeats_note(s.repeats)),
            section(f"Sweep of {s.points:,} trivial runs", sweep_table(results.rows)),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = command_line(__doc__, QUICK_HELP, list(FORMATS), "comma-separated", repeats=3)
    args = options.parse_args(argv)
    if worker_main(args, WORKERS):
        return
    settings = chosen_settings(args, QUICK, FULL)
    measure_and_report(args, "stet-sweep-", lambda work: run(settings, work, args.formats), report)


if __name__ == "__main__":
    main()
