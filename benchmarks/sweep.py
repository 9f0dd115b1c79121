"""What ``stet.sweep`` costs per run beyond the decorator's own, and how soon a resume starts.

Run it from the repository root, with the ``bench`` extra installed
(``pip install -e ".[bench]"``: numpy, joblib, psutil, pyarrow)::

    python benchmarks/sweep.py                  # the full run: about 16 minutes on 2 cores
    python benchmarks/sweep.py --quick          # smaller grids, one repeat: under a minute
    python benchmarks/sweep.py --formats csv,sqlite --repeats 5 --json results.json

The run is ``trial(alpha, seed)`` decorated with ``@stet.once(store=..., verbose=False)``
(claims on, the default); its body returns at once (it only counts its calls and notes
the time of its first). The grid is the issue's example, ``{"alpha": np.linspace(0, 1,
n), "seed": range(m)}``. Every measurement runs in a fresh process of its own, on a
fresh store in a temporary directory; each is repeated (``--repeats``, 3 by default, 1
with ``--quick``) and the median is shown. The repeats go round all the rows in turn.

1. **Sweep of 10^5 trivial runs** (10^4 with ``--quick``), per store format, from an
   empty store:

   * ``stet.sweep(trial, grid, progress=False)``, in the process;
   * the decorator alone: ``for kw in combos: trial(**kw)`` over the same combinations
     (made before the clock starts), the cost every run pays anyway; the runner's own
     overhead per run is the sweep's wall time minus this loop's, per run, repeat by
     repeat;
   * ``stet.sweep(trial, grid, executor=pool)`` with a ``ProcessPoolExecutor(2)``,
     timed from creating the pool to its shutdown;
   * for the first format, the in-process sweep with ``progress="always"`` and standard
     error sent to ``os.devnull``: what drawing the bar costs.

   Beside them, with the same grid in the same run, what users would otherwise pick:
   ``joblib.Parallel(n_jobs=2)`` over a ``joblib.Memory(...).cache``-d function (it
   too skips what is done, and records each call), and ``ProcessPoolExecutor(2).map``
   with no stet at all (nothing skipped, nothing recorded: the floor), with the default
   ``chunksize=1`` and with ``chunksize=1000``. After each stet row a second in-process
   sweep (not timed) must find every run done and run none.

   Beside the wall time, CPU per run: the measuring process's user + system time over
   the same interval, plus its pool workers' (counted when the pool shuts down; joblib's
   workers, which it keeps, are read with psutil). On a shared machine the CPU time is
   the steadier of the two, so the runner's overhead is shown on both.

2. **Resume at 99%**: grids of 10^5 and 10^6 points (10^4 and 10^5 with ``--quick``)
   whose store already holds the first 99% of the runs in grid order, as a sweep that
   was stopped near its end leaves it. The CSV store is written directly in stet's
   layout (a self-check first records a small grid through stet and compares the cells);
   every other format is ``stet.convert`` of it. Fill time is not measured. Each repeat
   puts the store back from a pristine copy and resumes it in a fresh process, as a real
   resume opens the store from disk (the file is in the OS page cache: it was just
   written). That process imports numpy and makes the grid, then times:

   * ``import stet`` on its own (bytecode cached: the measuring processes keep their
     bytecode in the work directory, as an installed package has it);
   * from just before ``stet.sweep(...)`` is called to the first new run's body starting
     (the body notes ``time.time()`` on its first call), in the process and with a
     ``ProcessPoolExecutor(2)`` created just before the call;
   * within that, reading the store (``Store.index_for``, the first use of the
     function's index) and scanning the grid for what is not done (``Grid.scan``), each
     timed by wrapping the method;
   * the whole resume sweep, 1% of the grid left, until it returns;
   * from starting the process (``Popen``) to the first new run: the interpreter,
     numpy, stet, the grid and the sweep together.

   The resumed sweep must find exactly the 99% done and run the rest.

The target of the issue, "resuming a 10^6-point grid that is 99% done starts its first
new run within 3 s", is judged per format and mode on the time from the ``stet.sweep``
call to the first new run: "yes" when the median of the repeats meets it, "best only"
when only the fastest does. Markdown tables go to stdout, progress to stderr.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _cli import (
    FORMATS,
    check_written_store,
    chosen_settings,
    command_line,
    load_average,
    machine,
    measure_and_report,
    source_state,
    table,
)

ROOT = Path(__file__).resolve().parent.parent
FUNCTION = "trial"  # the qualname stet records as the store's owner
STORE_ENV = "STET_BENCH_SWEEP_STORE"  # a pool worker that imports this script anew decorates
FIRST_ENV = "STET_BENCH_SWEEP_FIRST"  # where each process notes its first run's start
TARGET_S = 3.0  # resume of a 10^6-point grid at 99%: first new run within this
TARGET_POINTS = 10**6
DONE_SHARE = 0.99
POOL_WORKERS = 2

# the kinds of row of the first table, in the order they are shown
SWEEP, LOOP, POOL, BAR = "sweep", "loop", "pool", "bar"
JOBLIB, MAP_1, MAP_1000 = "joblib", "map", "map1000"
KINDS = {
    SWEEP: "`stet.sweep(f, grid)`, in-process",
    LOOP: "decorated loop, `for kw in combos: f(**kw)`",
    POOL: "`stet.sweep(f, grid, executor=ProcessPoolExecutor(2))`",
    BAR: '`stet.sweep(f, grid, progress="always")`, bar to devnull',
    JOBLIB: "joblib `Parallel(n_jobs=2)` over `Memory(...).cache(f)`",
    MAP_1: "`ProcessPoolExecutor(2).map(f, ...)`, no stet",
    MAP_1000: "`ProcessPoolExecutor(2).map(f, ..., chunksize=1000)`, no stet",
}
PEER_KINDS = (JOBLIB, MAP_1, MAP_1000)
IN_PROCESS, IN_POOL = "in-process", "ProcessPoolExecutor(2)"


# ---------------------------------------------------------------------- the runs

_calls = 0
_first: float | None = None


def trial(alpha: float, seed: int) -> None:
    """A trivial run: it returns at once; it counts its calls and notes its first."""
    global _calls, _first
    _calls += 1
    if _first is None:
        _first = time.time()
        path = os.environ.get(FIRST_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as out:  # one line per process
                out.write(f"{_first!r}\n")


_body = trial  # ``trial`` itself becomes the decorated function in a measuring process


def bare(alpha: float, seed: int) -> None:
    """The same trivial run for the peers: never decorated."""
    return None


def bind_trial(store: str) -> Callable[..., Any]:
    """Decorate the run with ``store`` and make it this module's ``trial``, so that a pool
    pickles it by reference and its workers find the same function."""
    import stet

    os.environ[STORE_ENV] = store  # a worker that imports this script anew (spawn)
    wrapped = stet.once(store=store, verbose=False)(_body)
    globals()["trial"] = wrapped
    return wrapped


if __name__ != "__main__" and os.environ.get(STORE_ENV):  # a pool worker started by spawn
    bind_trial(os.environ[STORE_ENV])


def axes_of(points: int) -> tuple[int, int]:
    """The grid's shape: ``alpha`` values by ``seed`` values."""
    return {10**4: (100, 100), 10**5: (1000, 100), 10**6: (1000, 1000)}[points]


def make_grid(points: int) -> dict[str, Any]:
    """The issue's example grid, ``{"alpha": np.linspace(0, 1, n), "seed": range(m)}``."""
    import numpy as np

    n_alpha, n_seed = axes_of(points)
    return {"alpha": np.linspace(0, 1, n_alpha), "seed": range(n_seed)}


def combinations(grid: dict[str, Any]) -> list[dict[str, Any]]:
    """The grid's runs as keyword arguments, in the sweep's order (first axis slowest)."""
    return [{"alpha": a, "seed": s} for a in grid["alpha"] for s in grid["seed"]]


# ---------------------------------------------------------------------- measuring processes


def quiet_sweep(func: Callable[..., Any], grid: Any, **options: Any) -> Any:
    """``stet.sweep`` with its ``[stet]`` lines kept off standard output (the JSON line)."""
    import stet

    with contextlib.redirect_stdout(sys.stderr):
        return stet.sweep(func, grid, **options)


def check_rerun(func: Callable[..., Any], grid: Any, points: int) -> str:
    """A second sweep of the same grid must find every run done: "ok", or what it found."""
    again = quiet_sweep(func, grid, progress=False)
    if again.done_before != points or again.ran or again.failed:
        return f"rerun: {again.done_before} done before, {again.ran} ran"
    return "ok"


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
    """One stet row of the first table, in this fresh process, on a fresh store."""
    global _calls
    kind, points = spec["kind"], spec["points"]
    func = bind_trial(spec["store"])
    grid = make_grid(points)
    combos = combinations(grid)
    problems = []
    if kind == LOOP:
        cpu, start = cpu_s(), time.perf_counter()
        for kwargs in combos:
            func(**kwargs)
        wall, cpu = time.perf_counter() - start, cpu_s() - cpu
        if _calls != points:
            problems.append(f"the body ran {_calls} times")
    elif kind in (SWEEP, BAR):
        with contextlib.ExitStack() as stack:
            progress: bool | str = False
            if kind == BAR:
                devnull = stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
                stack.enter_context(contextlib.redirect_stderr(devnull))
                progress = "always"
            cpu, start = cpu_s(), time.perf_counter()
            summary = quiet_sweep(func, grid, progress=progress)
            wall, cpu = time.perf_counter() - start, cpu_s() - cpu
        if summary.ran != points or _calls != points:
            problems.append(f"{summary.ran} ran, the body ran {_calls} times")
    elif kind == POOL:
        cpu, start = cpu_s(), time.perf_counter()
        with ProcessPoolExecutor(POOL_WORKERS) as pool:
            summary = quiet_sweep(func, grid, executor=pool, progress=False)
        wall, cpu = time.perf_counter() - start, cpu_s() - cpu  # the workers ended: counted
        if summary.ran != points or summary.failed:
            problems.append(f"{summary.ran} ran, {summary.failed} failed")
    else:
        raise ValueError(f"unknown kind {kind!r}")
    _calls = 0
    problems.append(check_rerun(func, grid, points))
    if _calls:
        problems.append(f"the rerun ran the body {_calls} times")
    check = "; ".join(p for p in problems if p != "ok") or "ok"
    return {"wall_s": wall, "cpu_s": cpu, "check": check}


def measure_peer(spec: dict[str, Any]) -> dict[str, Any]:
    """One peer row of the first table, in this fresh process."""
    kind, points = spec["kind"], spec["points"]
    grid = make_grid(points)
    combos = combinations(grid)
    alphas = [kwargs["alpha"] for kwargs in combos]
    seeds = [kwargs["seed"] for kwargs in combos]
    if kind == JOBLIB:
        import joblib  # type: ignore[import-untyped]

        location = spec["store"]
        cached = joblib.Memory(location=location, verbose=0).cache(bare)
        cpu, start = cpu_s(), time.perf_counter()
        run_all = joblib.Parallel(n_jobs=POOL_WORKERS)
        run_all(joblib.delayed(cached)(**kwargs) for kwargs in combos)
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
        chunk = 1000 if kind == MAP_1000 else 1
        cpu, start = cpu_s(), time.perf_counter()
        with ProcessPoolExecutor(POOL_WORKERS) as pool:
            results = list(pool.map(bare, alphas, seeds, chunksize=chunk))
        wall, cpu = time.perf_counter() - start, cpu_s() - cpu
        check = "ok" if len(results) == points else f"{len(results)} results"
    return {"wall_s": wall, "cpu_s": cpu, "check": check}


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
    from stet import _grid, _store

    _store.Store.index_for = timed(_store.Store.index_for, found, "open_s")  # type: ignore[method-assign]
    _grid.Grid.scan = timed(_grid.Grid.scan, found, "scan_s")  # type: ignore[method-assign]
    os.environ[FIRST_ENV] = spec["first"]
    func = bind_trial(spec["store"])
    grid = make_grid(spec["points"])
    pool = ProcessPoolExecutor(POOL_WORKERS) if spec["mode"] == IN_POOL else None
    try:
        called, start = time.time(), time.perf_counter()
        summary = quiet_sweep(func, grid, executor=pool, progress=False)
        found["total_s"] = time.perf_counter() - start
    finally:
        if pool is not None:
            pool.shutdown()
    firsts = [float(line) for line in Path(spec["first"]).read_text().split()]
    found["called"] = called
    found["first_run"] = min(firsts)
    found["first_s"] = min(firsts) - called
    done, points = spec["done"], spec["points"]
    if summary.done_before != done or summary.ran != points - done or summary.failed:
        found["check"] = f"{summary.done_before} done before, {summary.ran} ran"
    else:
        found["check"] = "ok"
    return found


def convert_store(spec: dict[str, Any]) -> dict[str, Any]:
    """Convert the hand-written CSV store into another format (in a fresh process)."""
    import stet

    with contextlib.redirect_stdout(sys.stderr):
        count = stet.convert(spec["source"], spec["store"])
    if count != spec["records"]:
        raise SystemExit(f"stet.convert copied {count} records, not {spec['records']}")
    return {}


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "stet": measure_stet,
    "peer": measure_peer,
    "resume": measure_resume,
    "convert": convert_store,
}


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; return what it found (its last line),
    with ``started``: the time just before the process was started."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
    env = {k: v for k, v in os.environ.items() if k not in (STORE_ENV, FIRST_ENV)}
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({spec['worker']}):\n{done.stdout}{done.stderr}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    found["started"] = started
    return found


# ---------------------------------------------------------------------- filling stores


def timestamps(count: int) -> list[str]:
    """ISO 8601 UTC times a millisecond apart, as stet writes them."""
    import numpy as np

    start = np.datetime64("2026-03-12T11:48:59.428485", "us")
    times = start + np.arange(count) * np.timedelta64(997, "us")
    return [text + "+00:00" for text in np.datetime_as_string(times, unit="us").tolist()]


def write_stet_store(path: Path, points: int, records: int) -> None:
    """Write the first ``records`` runs of the grid of ``points`` in stet's CSV layout:
    header, one line per record, the ``.owner`` file."""
    grid = make_grid(points)
    alphas, seeds = grid["alpha"].tolist(), list(grid["seed"])
    cells = (f"{a!r},{s}" for a in alphas for s in seeds)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("alpha,seed,_stet_timestamp\n")
        out.writelines(
            f"{cell},{stamp}\n" for cell, stamp in zip(cells, timestamps(records), strict=False)
        )
    Path(f"{path}.owner").write_text(json.dumps({"function": FUNCTION}) + "\n", encoding="utf-8")


def check_writer_matches_stet(directory: Path) -> None:
    """Record a small grid through stet and check the hand-written store holds the same
    cells (in a fresh process: stet is not imported into this one)."""
    recorded = directory / "recorded.csv"
    written = directory / "written.csv"
    spec = {"worker": "stet", "kind": SWEEP, "points": 10**4, "store": str(recorded)}
    found = run_worker(spec)
    if found["check"] != "ok":
        raise SystemExit(f"self-check sweep: {found['check']}")
    write_stet_store(written, 10**4, 10**4)
    check_written_store(recorded, written, FUNCTION)


# ---------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    points: int  # runs in the first table's grid
    resume_points: tuple[int, ...]
    repeats: int


FULL = Settings(points=10**5, resume_points=(10**5, 10**6), repeats=3)
QUICK = Settings(points=10**4, resume_points=(10**4, 10**5), repeats=1)


@dataclass
class Row:
    """One way of running the first table's grid, with one store format."""

    kind: str  # a key of KINDS
    format: str  # a key of FORMATS; "" for the peers
    points: int
    walls: list[float] = field(default_factory=list)  # one per repeat
    cpus: list[float] = field(default_factory=list)  # this process's and its workers'
    checks: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return KINDS[self.kind]

    def wall_s(self) -> float:
        return statistics.median(self.walls)

    def us_per_run(self) -> float:
        return self.wall_s() / self.points * 1e6

    def cpu_us_per_run(self) -> float:
        return statistics.median(self.cpus) / self.points * 1e6


@dataclass
class ResumeRow:
    """Resuming one grid at 99% with one store format, in one mode."""

    format: str
    points: int
    mode: str  # IN_PROCESS or IN_POOL
    samples: list[dict[str, Any]] = field(default_factory=list)  # one per repeat

    def median(self, name: str) -> float:
        return statistics.median(float(s[name]) for s in self.samples)

    def best(self, name: str) -> float:
        return min(float(s[name]) for s in self.samples)

    def from_start(self, sample: dict[str, Any]) -> float:
        return float(sample["first_run"] - sample["started"])


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    formats: list[str]
    rows: list[Row]
    resumes: list[ResumeRow]
    fills: dict[str, float]  # "format points" -> seconds to fill (not measured as such)
    start_method: str
    source: str  # stet's commit when the run started, and whether its source differed
    seconds: float
    load_at_start: str
    load_at_end: str


def progress(text: str) -> None:
    print(f"[sweep] {text}", file=sys.stderr, flush=True)


def plan(s: Settings, formats: Sequence[str]) -> list[Row]:
    rows = []
    for name in formats:
        rows += [Row(kind, name, s.points) for kind in (SWEEP, LOOP, POOL)]
    rows.append(Row(BAR, formats[0], s.points))
    rows += [Row(kind, "", s.points) for kind in PEER_KINDS]
    return rows


def measure_row(row: Row, work: Path, repeat: int) -> None:
    home = work / f"{row.kind}-{row.format or 'peer'}-{repeat}"
    home.mkdir()
    try:
        if row.format:
            spec = {"worker": "stet", "store": str(home / f"store{FORMATS[row.format]}")}
        else:
            spec = {"worker": "peer", "store": str(home / "joblib")}
        found = run_worker({**spec, "kind": row.kind, "points": row.points})
    finally:
        shutil.rmtree(home, ignore_errors=True)
    row.walls.append(found["wall_s"])
    row.cpus.append(found["cpu_s"])
    row.checks.append(found["check"])


def fill_stores(
    work: Path, points: int, formats: Sequence[str], fills: dict[str, float]
) -> dict[str, Path]:
    """A pristine store per format holding the first 99% of the grid: its directory."""
    done = round(points * DONE_SHARE)
    csv_home = work / f"pristine-csv-{points}"
    csv_home.mkdir()
    source = csv_home / "store.csv"
    start = time.perf_counter()
    write_stet_store(source, points, done)
    fills[f"csv {points}"] = time.perf_counter() - start
    homes = {}
    for name in formats:
        if name == "csv":
            homes[name] = csv_home
            continue
        home = work / f"pristine-{name}-{points}"
        home.mkdir()
        store = home / f"store{FORMATS[name]}"
        spec = {"worker": "convert", "source": str(source), "store": str(store)}
        start = time.perf_counter()
        run_worker({**spec, "records": done})
        fills[f"{name} {points}"] = time.perf_counter() - start
        homes[name] = home
    if "csv" not in formats:
        homes["source"] = csv_home  # removed with the others
    return homes


def measure_resumes(
    s: Settings, work: Path, formats: Sequence[str], fills: dict[str, float]
) -> list[ResumeRow]:
    rows: list[ResumeRow] = []
    for points in s.resume_points:
        progress(f"resume: filling stores of {points:,} points at 99%")
        homes = fill_stores(work, points, formats, fills)
        mine = [ResumeRow(f, points, m) for f in formats for m in (IN_PROCESS, IN_POOL)]
        try:
            for repeat in range(s.repeats):
                for row in mine:
                    progress(
                        f"resume {points:,} at 99%, repeat {repeat + 1}/{s.repeats}: "
                        f"{row.format}, {row.mode}"
                    )
                    home = work / "resuming"
                    shutil.copytree(homes[row.format], home)
                    first = work / "first-runs.txt"
                    first.unlink(missing_ok=True)
                    spec = {
                        "worker": "resume",
                        "store": str(home / f"store{FORMATS[row.format]}"),
                        "points": points,
                        "done": round(points * DONE_SHARE),
                        "mode": row.mode,
                        "first": str(first),
                    }
                    try:
                        row.samples.append(run_worker(spec))
                    finally:
                        shutil.rmtree(home, ignore_errors=True)
        finally:
            for home in homes.values():
                shutil.rmtree(home, ignore_errors=True)
        rows += mine
    return rows


def run(s: Settings, work: Path, formats: Sequence[str]) -> Results:
    load_at_start, start = load_average(), time.perf_counter()
    source = source_state(ROOT)
    # the measuring processes keep bytecode (in the work directory), as an installed
    # package has it: the self-check's process compiles, the others import the cache
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    progress("self-check: the hand-written CSV store against stet's")
    check_home = work / "self-check"
    check_home.mkdir()
    check_writer_matches_stet(check_home)
    shutil.rmtree(check_home)
    rows = plan(s, formats)
    for repeat in range(s.repeats):  # repeats outermost: noise spreads over every row
        for row in rows:
            where = f" ({row.format})" if row.format else ""
            progress(f"sweep, repeat {repeat + 1}/{s.repeats}: {row.kind}{where}")
            measure_row(row, work, repeat)
    fills: dict[str, float] = {}
    resumes = measure_resumes(s, work, formats, fills)
    method = multiprocessing.get_start_method()
    took = time.perf_counter() - start
    return Results(
        s, list(formats), rows, resumes, fills, method, source, took, load_at_start, load_average()
    )


# ---------------------------------------------------------------------- reports


def us(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 100 else f"{value:,.0f}"


def seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def overhead(row: Row, rows: Sequence[Row], cpu: bool = False) -> str:
    """The runner's cost per run beyond the decorator's: the in-process sweep's wall time
    (or CPU time) minus the decorated loop's, per run, repeat by repeat; the median."""
    if row.kind not in (SWEEP, BAR):
        return "-"
    loop = next(r for r in rows if r.kind == LOOP and r.format == row.format)
    mine, theirs = (row.cpus, loop.cpus) if cpu else (row.walls, loop.walls)
    pairs = zip(mine, theirs, strict=True)
    return us(statistics.median(a - b for a, b in pairs) / row.points * 1e6)


def sweep_table(rows: Sequence[Row]) -> str:
    header = ["how", "format", "wall (s)", "us per run", "runner overhead (us per run)"]
    header += ["CPU per run (us)", "runner overhead, CPU (us per run)", "store afterwards"]
    lines = [
        [
            row.name,
            row.format or "-",
            seconds(row.wall_s()),
            us(row.us_per_run()),
            overhead(row, rows),
            us(row.cpu_us_per_run()),
            overhead(row, rows, cpu=True),
            "; ".join(sorted(set(row.checks))),
        ]
        for row in rows
    ]
    return table(header, lines)


def resume_table(rows: Sequence[ResumeRow]) -> str:
    header = [
        "format",
        "points",
        "mode",
        "first new run (s), median [best]",
        "of which reading the store (s)",
        "of which scanning the grid (s)",
        "resume sweep, 1% left (s)",
        "process start to first new run (s)",
        "`import stet` (ms)",
        "check",
    ]
    lines = [
        [
            row.format,
            f"{row.points:,}",
            row.mode,
            f"{seconds(row.median('first_s'))} [{seconds(row.best('first_s'))}]",
            seconds(row.median("open_s")),
            seconds(row.median("scan_s")),
            seconds(row.median("total_s")),
            seconds(statistics.median(row.from_start(x) for x in row.samples)),
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
    for row in rows:
        if row.points != largest:
            continue
        best, median = row.best("first_s"), row.median("first_s")
        met = "yes" if median <= TARGET_S else "best only" if best <= TARGET_S else "**no**"
        lines.append([row.format, row.mode, f"{TARGET_S:g}", seconds(best), seconds(median), met])
    return table(header, lines)


def versions(source: str) -> str:
    import stet

    return machine(f"stet {stet.__version__}{source}", ("joblib", "numpy", "tqdm", "pyarrow"))


def report(results: Results) -> str:
    s = results.settings
    context = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {versions(results.source)}; "
        f"load average (1, 5, 15 min) {results.load_at_start} at the start, "
        f"{results.load_at_end} at the end; process pools start workers by "
        f"{results.start_method}; {s.repeats} repeat{'s' if s.repeats > 1 else ''}, "
        f"medians shown; the run took {results.seconds / 60:.1f} min."
    )
    largest = max(s.resume_points)
    scope = f"at {largest:,} points"
    if largest != TARGET_POINTS:
        scope += f" (the target is for {TARGET_POINTS:,}; --quick measures smaller grids)"
    return "\n\n".join(
        [
            context,
            f"### Sweep of {s.points:,} trivial runs\n\n" + sweep_table(results.rows),
            "### Resume at 99%\n\n" + resume_table(results.resumes),
            f"### Targets\n\nResume {scope} at 99%: the first new run starts within "
            f"{TARGET_S:g} s of the `stet.sweep` call.\n\n" + target_table(results.resumes),
        ]
    )


# ---------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    quick = "grids of 10^4 runs, resumes of 10^4 and 10^5 points, one repeat"
    options = command_line(__doc__, quick, list(FORMATS), "comma-separated", repeats=3)
    args = options.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(WORKERS[spec["worker"]](spec)))
        return
    settings = chosen_settings(args, QUICK, FULL)

    def measure_all(work: Path) -> Results:
        return run(settings, work, args.formats)

    measure_and_report(args, "stet-sweep-", measure_all, report)


if __name__ == "__main__":
    main()
