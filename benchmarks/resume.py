"""How soon a resumed sweep starts its first new run: a grid whose store is 99% done.

Run it from the repository root, with the ``bench`` extra installed
(``pip install -e ".[bench]"``: numpy, psutil, pyarrow)::

    python benchmarks/resume.py                 # the full run: about 8 minutes on 2 cores
    python benchmarks/resume.py --quick         # grids of 10^4 and 10^5 points, one repeat
    python benchmarks/resume.py --formats csv,sqlite --repeats 5 --json results.json

Grids of 10^5 and 10^6 points (10^4 and 10^5 with ``--quick``) of ``trial(alpha, seed)``
(see ``_trial.py``) whose store already holds the first 99% of the runs in grid order, as
a sweep stopped near its end leaves it. The CSV store is written directly in stet's
layout (a self-check first records a small grid through stet and compares the cells);
every other format is ``stet.convert`` of it (not timed). Each repeat (``--repeats``, 3 by
default) puts the store back from a pristine copy and resumes it in a fresh process,
which imports numpy, makes the grid, then times:

* ``import stet`` on its own (bytecode cached, as an installed package has it);
* from just before ``stet.sweep(...)`` to the first new run's body starting (the body
  notes ``time.time()`` on its first call), in the process and with a
  ``ProcessPoolExecutor(2)`` created just before the call;
* within that, reading the store (``Store.index_for``) and scanning the grid for what is
  not done (``Grid.scan``), each timed by wrapping that internal method;
* the whole resume sweep, until it returns; and from starting the process to the first
  new run. The resumed sweep must find exactly the 99% done and run the rest.

The target, "resuming a 10^6-point grid that is 99% done starts its first new run within
3 s", is judged per format and mode: "yes" when the median meets it, "best only" when
only the fastest repeat does. Tables to stdout, progress to stderr.
"""

from __future__ import annotations

import functools
import os
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _trial
from _harness import (
    FORMATS,
    Clock,
    Sampled,
    chosen_settings,
    command_line,
    context,
    convert_store,
    measure_and_report,
    progress,
    repeats_note,
    run_worker,
    section,
    table,
    worker_main,
)
from _trial import FULL, POOL_WORKERS, QUICK, QUICK_HELP, Settings, make_grid

TARGET_S = 3.0  # resume of a 10^6-point grid at 99%: first new run within this
TARGET_POINTS = 10**6
DONE_SHARE = 0.99
IN_PROCESS, IN_POOL = "in-process", "ProcessPoolExecutor(2)"


def timed(method: Callable[..., Any], found: dict[str, float], name: str) -> Callable[..., Any]:
    """``method``, adding the seconds each call takes to ``found[name]``."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            found[name] = found.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def measure_resume(spec: dict[str, Any]) -> dict[str, Any]:
    """Resume a sweep whose store holds 99% of the grid, in this fresh process."""
    start = time.perf_counter()
    import stet  # noqa: F401 (timed on its own: the sweep's clock starts after it)

    found: dict[str, Any] = {"import_s": time.perf_counter() - start}
    from stet import _grid, _store  # internals: the two steps before the first run

    _store.Store.index_for = timed(_store.Store.index_for, found, "open_s")  # type: ignore[method-assign]
    _grid.Grid.scan = timed(_grid.Grid.scan, found, "scan_s")  # type: ignore[method-assign]
    os.environ[_trial.FIRST_ENV] = spec["first"]
    func = _trial.bind_trial(spec["store"])
    grid = make_grid(spec["points"])
    pool = ProcessPoolExecutor(POOL_WORKERS) if spec["mode"] == IN_POOL else None
    try:
        called, start = time.time(), time.perf_counter()
        summary = _trial.quiet_sweep(func, grid, executor=pool, progress=False)
        found["total_s"] = time.perf_counter() - start
    finally:
        if pool is not None:
            pool.shutdown()
    first = min(float(line) for line in Path(spec["first"]).read_text().split())
    found.update(called=called, first_run=first, first_s=first - called)
    done, points = spec["done"], spec["points"]
    if summary.done_before != done or summary.ran != points - done or summary.failed:
        found["check"] = f"{summary.done_before} done before, {summary.ran} ran"
    else:
        found["check"] = "ok"
    return found


def record_grid(spec: dict[str, Any]) -> dict[str, Any]:
    """The self-check's process: sweep the grid of 10^4 runs into ``spec["store"]``."""
    summary = _trial.quiet_sweep(_trial.bind_trial(spec["store"]), make_grid(10**4))
    if summary.ran != 10**4:
        raise SystemExit(f"self-check sweep: {summary.ran} ran")
    return {}


WORKERS = {"resume": measure_resume, "record": record_grid, "convert": convert_store}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    return run_worker(__file__, spec, _trial.worker_env())


@dataclass
class ResumeRow(Sampled):
    """Resuming one grid at 99% with one store format, in one mode."""

    format: str
    points: int
    mode: str  # IN_PROCESS or IN_POOL

    def from_start(self) -> float:
        return statistics.median(float(s["first_run"] - s["started"]) for s in self.samples)


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    formats: list[str]
    resumes: list[ResumeRow]
    fills: dict[str, float]  # "format points" -> seconds to fill (not measured as such)
    clock: Clock


def fill_stores(
    work: Path, points: int, formats: Sequence[str], fills: dict[str, float]
) -> dict[str, Path]:
    """A pristine store per format holding the first 99% of the grid: its directory."""
    done = round(points * DONE_SHARE)
    homes = {"csv": work / f"pristine-csv-{points}"}
    homes["csv"].mkdir()
    source = homes["csv"] / "store.csv"
    start = time.perf_counter()
    _trial.write_stet_store(source, points, done)
    fills[f"csv {points}"] = time.perf_counter() - start
    for name in formats:
        if name != "csv":
            homes[name] = work / f"pristine-{name}-{points}"
            homes[name].mkdir()
            spec = {"source": str(source), "location": str(homes[name] / f"store{FORMATS[name]}")}
            found = measure({"worker": "convert", **spec, "records": done})
            fills[f"{name} {points}"] = found["fill_s"]
    return homes


def resume_once(row: ResumeRow, pristine: Path, work: Path) -> None:
    home, first = work / "resuming", work / "first-runs.txt"
    shutil.copytree(pristine, home)
    first.unlink(missing_ok=True)
    spec = {
        "worker": "resume",
        "store": str(home / f"store{FORMATS[row.format]}"),
        "points": row.points,
        "done": round(row.points * DONE_SHARE),
        "mode": row.mode,
        "first": str(first),
    }
    try:
        row.samples.append(measure(spec))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(s: Settings, work: Path, formats: Sequence[str]) -> Results:
    clock = Clock()
    _trial.keep_bytecode(work)
    progress("resume", "self-check: the hand-written CSV store against stet's")
    (work / "self-check").mkdir()
    _trial.check_writer(
        work / "self-check", lambda path: measure({"worker": "record", "store": str(path)})
    )
    rows: list[ResumeRow] = []
    fills: dict[str, float] = {}
    for points in s.resume_points:
        progress("resume", f"filling stores of {points:,} points at 99%")
        homes = fill_stores(work, points, formats, fills)
        mine = [ResumeRow(f, points, m) for f in formats for m in (IN_PROCESS, IN_POOL)]
        try:
            for repeat in range(s.repeats):
                for row in mine:
                    what = f"{row.format}, {row.mode}"
                    progress("resume", f"{points:,}, repeat {repeat + 1}/{s.repeats}: {what}")
                    resume_once(row, homes[row.format], work)
        finally:
            for home in homes.values():
                shutil.rmtree(home, ignore_errors=True)
        rows += mine
    return Results(s, list(formats), rows, fills, clock.stop())


def seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def resume_table(rows: Sequence[ResumeRow]) -> str:
    header = ["format", "points", "mode", "first new run (s), median [best]"]
    header += ["of which reading the store (s)", "of which scanning the grid (s)"]
    header += ["resume sweep, 1% left (s)", "process start to first new run (s)"]
    header += ["`import stet` (ms)", "check"]
    lines = [
        [
            row.format,
            f"{row.points:,}",
            row.mode,
            f"{seconds(row.median('first_s'))} [{seconds(row.best('first_s'))}]",
            seconds(row.median("open_s")),
            seconds(row.median("scan_s")),
            seconds(row.median("total_s")),
            seconds(row.from_start()),
            f"{row.median('import_s') * 1000:.1f}",
            "; ".join(sorted({x["check"] for x in row.samples})),
        ]
        for row in rows
    ]
    return table(header, lines)


def target_table(rows: Sequence[ResumeRow]) -> str:
    """First new run of the largest resumed grid, against the target, per format and mode."""
    largest = max(row.points for row in rows)
    header = ["format", "mode", "target (s)", "best (s)", "median (s)", "met"]
    lines = []
    for row in (row for row in rows if row.points == largest):
        best, median = row.best("first_s"), row.median("first_s")
        met = "yes" if median <= TARGET_S else "best only" if best <= TARGET_S else "**no**"
        lines.append([row.format, row.mode, f"{TARGET_S:g}", seconds(best), seconds(median), met])
    return table(header, lines)


def report(results: Results) -> str:
    s = results.settings
    scope = f"at {max(s.resume_points):,} points"
    if max(s.resume_points) != TARGET_POINTS:
        scope += f" (the target is for {TARGET_POINTS:,}; --quick measures smaller grids)"
    target = (
        f"Resume {scope} at 99%: the first new run starts within {TARGET_S:g} s of the "
        f"`stet.sweep` call.\n\n" + target_table(results.resumes)
    )
    return "\n\n".join(
        [
            context(results.clock, ("numpy", "pyarrow"), repeats_note(s.repeats)),
            section("Resume at 99%", resume_table(results.resumes)),
            section("Targets", target),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = command_line(__doc__, QUICK_HELP, list(FORMATS), "comma-separated", repeats=3)
    args = options.parse_args(argv)
    if worker_main(args, WORKERS):
        return
    settings = chosen_settings(args, QUICK, FULL)
    measure_and_report(args, "stet-resume-", lambda work: run(settings, work, args.formats), report)


if __name__ == "__main__":
    main()
