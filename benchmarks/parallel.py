"""Many workers on one store: throughput of 1 to 8 processes, and what claims cost per run.

Run it from the repository root, with the ``bench`` extra installed
(``pip install -e ".[bench]"``) and ``stet[postgres]`` for the PostgreSQL rows::

    python benchmarks/parallel.py                 # the full run: about 5 minutes on 2 cores
    python benchmarks/parallel.py --quick         # small grids, 1, 2 and 4 workers: < 1 min
    python benchmarks/parallel.py --formats csv,sqlite --json results.json
    python benchmarks/parallel.py --postgres-url postgresql://user:pw@localhost/db

The pattern measured is two terminals, or a SLURM array, running one script: N worker
processes are started together, each runs the same loop over the same grid of
``experiment(alpha, beta)`` calls (two floats) against one store, with claims on (the
default) and messages off (``@stet.once(store=..., verbose=False)``). Each worker first
makes one call outside the grid (its store is opened, its format's modules imported, its
PostgreSQL connection made), then waits for a go-file; the parent creates it once every
worker waits. Two bodies: one that only notes that it ran (it measures the machinery),
and, over a smaller grid, one that also sleeps 1 ms (it shows the work partitioned: wall
time falls with N).

For every row, repeated and shown as the median of the repeats:

* wall: from the go-file to the last worker's last call returning; runs/s is the grid
  over it;
* CPU per run: each worker's user + system time over its loop (``time.process_time()``, in
  the worker itself, every thread included), summed over the workers, divided by the runs
  in the grid. For PostgreSQL the server's CPU over the same interval is added when the
  script started the server (its postmaster, its live processes and those it reaped);
* wall x N per run: the wall time times the number of workers, per run: the process-time
  the sweep held;
* executions: how many calls each worker's body ran, counted in the body; duplicates
  are executions beyond the first of a run, missing are runs no worker executed. Then a
  fresh process checks the store: ``stet.status`` must count the grid plus the warm-up
  calls, a second pass over the grid must run no body, and no claim may be left.

The target of issue 4, "with claims on, the per-run overhead stays at most 3 times the
single-process record cost of the same format", is judged on CPU per run: each row with
claims on against one process with ``claims=False`` over the same grid, in the same run.
Wall x N is printed beside it, but it overstates the cost as soon as N exceeds the cores:
8 processes on 2 cores wait for each other, and the waiting counts in wall x N while no
work is done; CPU time counts only the work. The claim overhead of one process is the
difference, claims on minus claims off, per run. Ratios and differences are taken repeat
by repeat (a row against the baseline measured moments before it, in the same round of
repeats), and their median is shown.

``joblib.Memory(...).cache``, ``diskcache.Cache(...).memoize()`` and a hand-written
resume loop (read the finished parameters from a CSV file at start, skip those, append
a line and flush after each run) run with the same workers over the same grids. None of
them claims runs, so their duplicated executions are shown. Markdown tables go to
stdout, progress to stderr. PostgreSQL: ``--postgres-url`` or ``STET_BENCH_POSTGRES_URL``
names a server, else a throwaway one is started with ``tests/pgserver.py``; each row uses
a table of its own, dropped afterwards. Without a server the PostgreSQL rows are left out
with a note.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from _harness import command_line, load_average, machine, measure_and_report, source_state, table

ROOT = Path(__file__).resolve().parent.parent
Pair = tuple[float, float]
Call = Callable[[float, float], Any]

FORMATS = {  # the name --formats takes -> the store's extension ("" for a URL)
    "csv": ".csv",
    "jsonl": ".jsonl",
    "json": ".json",
    "sqlite": ".sqlite",
    "parquet": ".parquet",
    "postgresql": "",
}
PEERS = {  # tool -> how the tables name it
    "joblib": "joblib.Memory",
    "diskcache": "diskcache memoize",
    "loop": "hand-written loop",
}
TRIVIAL, SLEEP = "trivial", "sleep 1 ms"
TARGET = 3.0  # claims on, per run, over one process's record cost with claims off
ENV_URL = "STET_BENCH_POSTGRES_URL"


# ---------------------------------------------------------------------- the workers

_executed: list[Pair] = []
_sleep = 0.0


def experiment(alpha: float, beta: float) -> None:
    """The benchmarked function: it notes that it ran (and sleeps, in the second scenario)."""
    _executed.append((alpha, beta))
    if _sleep:
        time.sleep(_sleep)


def grid_pairs(size: int) -> list[Pair]:
    """``size`` (alpha, beta) points of a grid over [0, 1] x [0, 1], row by row."""
    rows = max(n for n in range(1, int(size**0.5) + 1) if size % n == 0)
    cols = size // rows
    return [(i / max(rows - 1, 1), j / max(cols - 1, 1)) for i in range(rows) for j in range(cols)]


class HandWrittenLoop:
    """The resume loop a researcher writes by hand: read what is done, skip it, append."""

    def __init__(self, path: str) -> None:
        self.done: set[Pair] = set()
        with contextlib.suppress(FileNotFoundError), open(path, encoding="utf-8") as lines:
            for line in lines:
                if not line.endswith("\n"):
                    break  # a line another process is writing right now
                alpha, beta = line.split(",")
                self.done.add((float(alpha), float(beta)))
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the process)

    def __call__(self, alpha: float, beta: float) -> None:
        if (alpha, beta) in self.done:
            return
        experiment(alpha, beta)
        self.out.write(f"{alpha!r},{beta!r}\n")
        self.out.flush()
        self.done.add((alpha, beta))


def wrap(tool: str, location: str, claims: bool) -> Call:
    """``experiment`` behind the tool, as a user would write it."""
    if tool == "stet":
        import stet

        return stet.once(store=location, verbose=False, claims=claims)(experiment)
    if tool == "joblib":
        import joblib  # type: ignore[import-untyped]

        return joblib.Memory(location=location, verbose=0).cache(experiment)  # type: ignore[no-any-return]
    if tool == "diskcache":
        import diskcache  # type: ignore[import-untyped]

        return diskcache.Cache(location).memoize()(experiment)  # type: ignore[no-any-return]
    if tool == "loop":
        return HandWrittenLoop(location)
    raise ValueError(f"unknown tool {tool!r}")


def worker(spec: dict[str, Any]) -> None:
    """One worker: warm up outside the grid, wait for the go-file, sweep, write results."""
    global _sleep
    _sleep = spec["sleep"]
    call = wrap(spec["tool"], spec["location"], spec["claims"])
    pairs = grid_pairs(spec["grid"])
    number = {pair: i for i, pair in enumerate(pairs)}
    call(-1.0 - spec["worker"], -1.0)  # opens the store: not a run of the grid
    _executed.clear()
    Path(spec["ready"]).touch()
    go, polls = spec["go"], 0
    while not os.path.exists(go):
        polls += 1
        if polls % 1000 == 0 and os.getppid() != spec["parent"]:
            raise SystemExit("the benchmark that started this worker has gone")
        time.sleep(0.0005)
    start, before = time.time(), time.process_time()
    for alpha, beta in pairs:
        call(alpha, beta)
    after, end = time.process_time(), time.time()
    result = {
        "start": start,
        "end": end,
        "cpu_s": after - before,
        "cpu_total_s": after,
        "executed": [number[pair] for pair in _executed],
    }
    temp = spec["result"] + ".tmp"
    Path(temp).write_text(json.dumps(result), encoding="utf-8")
    os.replace(temp, spec["result"])


def verify(spec: dict[str, Any]) -> None:
    """In a fresh process after a row: what the store holds, and a second pass over it."""
    found: dict[str, Any] = {"recorded": None}
    if spec["tool"] == "stet":
        import stet

        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            stet.status(spec["location"])
        text = printed.getvalue()
        counted = re.search(r"([\d,]+) completed experiment", text)
        found["recorded"] = int(counted.group(1).replace(",", "")) if counted else None
        found["running"] = "running now" in text
    call = wrap(spec["tool"], spec["location"], False)
    for alpha, beta in grid_pairs(spec["grid"]):
        call(alpha, beta)
    found["second_pass"] = len(_executed)
    print(json.dumps(found))


# ---------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    grid: int  # runs in the trivial grid
    sleep_grid: int  # runs in the grid whose body sleeps 1 ms
    workers: tuple[int, ...]
    repeats: int


FULL = Settings(grid=2_000, sleep_grid=400, workers=(1, 2, 4, 8), repeats=3)
QUICK = Settings(grid=300, sleep_grid=100, workers=(1, 2, 4), repeats=1)


# ---------------------------------------------------------------------- PostgreSQL


class Postgres:
    """A PostgreSQL server for the benchmark: a URL, a fresh table per row, and when the
    script started the server itself, the server's CPU time."""

    def __init__(self, url: str, server: Any = None) -> None:
        self.url = url
        self.server = server  # a tests/pgserver.py Server this script started, or None
        self.tables: list[str] = []
        self.idle = self.backends()  # the server's processes while no worker is connected

    def plain_url(self) -> str:
        """The URL without a ``table=``."""
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "table"]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def location(self) -> str:
        """The URL with a ``table=`` of its own."""
        table = f"stet_bench_{secrets.token_hex(6)}"
        self.tables.append(table)
        parts = urlsplit(self.plain_url())
        query = urlencode([*parse_qsl(parts.query), ("table", table)])
        return urlunsplit(parts._replace(query=query))

    def drop_tables(self) -> None:
        """Drop the rows' tables, and every table stet made beside each (``<table>_...``)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.plain_url(), autocommit=True) as con:
            for table in self.tables:
                names = con.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND (tablename = %s OR starts_with(tablename, %s))",
                    (table, f"{table}_"),
                ).fetchall()
                for (name,) in names:
                    con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        self.tables.clear()

    def postmaster(self) -> Any:
        """The server's main process (psutil), when this script started the server."""
        if self.server is None or self.server.directory is None:
            return None
        import psutil  # type: ignore[import-untyped]

        pid_file = Path(self.server.data) / "postmaster.pid"
        return psutil.Process(int(pid_file.read_text().split()[0]))

    def cpu_s(self) -> float | None:
        """The server's CPU time so far: postmaster, live processes, reaped processes."""
        main = self.postmaster()
        if main is None:
            return None
        times = main.cpu_times()
        total = float(times.user + times.system + times.children_user + times.children_system)
        for child in main.children():
            with contextlib.suppress(Exception):  # a process that ended meanwhile
                used = child.cpu_times()
                total += used.user + used.system
        return total

    def backends(self) -> int:
        main = self.postmaster()
        return len(main.children()) if main is not None else 0

    def close(self) -> None:
        if self.server is not None:
            self.server.remove()


def pgserver_module() -> ModuleType:
    path = ROOT / "tests" / "pgserver.py"
    spec = importlib.util.spec_from_file_location("stet_bench_pgserver", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_postgres(url: str | None) -> tuple[Postgres | None, str]:
    """A server to measure against, or None and why there is none."""
    try:
        import stet.formats.postgres  # noqa: F401 (the format, and psycopg)
    except ImportError as error:
        return None, f"the PostgreSQL format cannot be imported ({error})"
    url = url or os.environ.get(ENV_URL)
    if url:
        import psycopg

        from stet.formats import redacted

        try:
            psycopg.connect(Postgres(url).plain_url(), connect_timeout=10).close()
        except psycopg.Error as error:
            detail = (str(error).splitlines() or [type(error).__name__])[0]
            password = urlsplit(url).password
            if password:
                detail = detail.replace(password, "***")
            return None, f"cannot connect to {redacted(url)}: {detail}"
        return Postgres(url), ""
    try:
        pgserver = pgserver_module()
    except (ImportError, OSError) as error:
        return None, f"tests/pgserver.py cannot be loaded ({error})"
    server, reason = pgserver.start()
    if server is None:
        return None, str(reason)
    return Postgres(server.url, server), ""


# ---------------------------------------------------------------------- one row


@dataclass
class Sample:
    """One repeat of one row."""

    wall_s: float
    cpu_s: float  # the workers' loops, summed
    exit_cpu_s: float  # the workers' CPU after their loops: exit handlers, interpreter exit
    server_cpu_s: float | None  # PostgreSQL's, when known
    executions: list[int]  # per worker
    duplicates: int
    missing: int
    recorded: int | None  # stet.status's count afterwards (grid + one warm-up per worker)
    second_pass: int  # bodies run by a second pass over the grid afterwards
    claims_left: bool  # a claim (file or row) left after every worker exited
    messages: list[str]  # anything the workers printed


@dataclass
class Row:
    """One tool on one store format, with N workers, over one grid."""

    tool: str  # "stet" or a key of PEERS
    format: str  # a key of FORMATS, or the peer's own storage
    scenario: str  # TRIVIAL or SLEEP
    workers: int
    claims: bool
    grid: int
    samples: list[Sample] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.tool == "stet":
            return f"stet {self.format}" + ("" if self.claims else ", claims off")
        return PEERS[self.tool]

    def median(self, what: Callable[[Sample], float]) -> float:
        return statistics.median(what(s) for s in self.samples)

    def cpu_of(self, sample: Sample) -> float:
        """CPU per run (us) in one repeat: the workers', and PostgreSQL's when known."""
        return (sample.cpu_s + (sample.server_cpu_s or 0.0)) / self.grid * 1e6

    def wall_n_of(self, sample: Sample) -> float:
        """Wall time x workers per run (us) in one repeat."""
        return sample.wall_s * self.workers / self.grid * 1e6

    def cpu_us(self) -> float:
        return self.median(self.cpu_of)

    def server_us(self) -> float | None:
        if any(s.server_cpu_s is None for s in self.samples):
            return None
        return self.median(lambda s: (s.server_cpu_s or 0.0) / self.grid * 1e6)

    def wall_s(self) -> float:
        return self.median(lambda s: s.wall_s)

    def wall_n_us(self) -> float:
        return self.median(self.wall_n_of)

    def typical(self) -> Sample:
        """The repeat with the median wall time."""
        ordered = sorted(self.samples, key=lambda s: s.wall_s)
        return ordered[(len(ordered) - 1) // 2]


def progress(text: str) -> None:
    print(f"[parallel] {text}", file=sys.stderr, flush=True)


def command(spec: dict[str, Any], mode: str) -> list[str]:
    return [sys.executable, os.path.abspath(__file__), mode, json.dumps(spec)]


def wait_for(
    paths: Sequence[Path], procs: Sequence[subprocess.Popen[bytes]], logs: Sequence[Path]
) -> None:
    """Wait until every path exists; stop when a worker exits before its path appears."""
    deadline = time.monotonic() + 300
    while not all(p.exists() for p in paths):
        for path, proc, log in zip(paths, procs, logs, strict=True):
            if proc.poll() is not None and not path.exists():
                raise SystemExit(f"a worker exited ({proc.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise SystemExit("workers did not get ready in 300 s")
        time.sleep(0.002)


def children_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_once(row: Row, location: str, home: Path, pg: Postgres | None) -> Sample:
    """Start the row's workers together, let them sweep, and check the store after."""
    go = home / "go"
    specs: list[dict[str, Any]] = [
        {
            "tool": row.tool,
            "location": location,
            "claims": row.claims,
            "grid": row.grid,
            "sleep": 0.001 if row.scenario == SLEEP else 0.0,
            "worker": i,
            "ready": str(home / f"ready.{i}"),
            "go": str(go),
            "result": str(home / f"result.{i}.json"),
            "parent": os.getpid(),
        }
        for i in range(row.workers)
    ]
    logs = [home / f"worker.{i}.log" for i in range(row.workers)]
    children_before = children_cpu_s()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for spec, log in zip(specs, logs, strict=True):
            with open(log, "wb") as out:
                procs.append(subprocess.Popen(command(spec, "--worker"), stdout=out, stderr=out))
        wait_for([Path(s["ready"]) for s in specs], procs, logs)
        server_before = pg.cpu_s() if pg is not None else None
        started = time.time()  # before the go-file: a worker cannot start before this
        go.touch()
        for proc, log in zip(procs, logs, strict=True):
            if proc.wait() != 0:
                raise SystemExit(f"a worker failed ({proc.returncode}):\n{log.read_text()}")
    finally:
        for proc in procs:  # after a failure: stop the workers still waiting or running
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = [json.loads(Path(s["result"]).read_text()) for s in specs]
    exit_cpu = children_cpu_s() - children_before - sum(r["cpu_total_s"] for r in results)
    server_cpu = None
    if pg is not None and server_before is not None:
        deadline = time.monotonic() + 5
        while pg.backends() > pg.idle and time.monotonic() < deadline:
            time.sleep(0.01)  # their server processes end and are reaped
        server_cpu = (pg.cpu_s() or 0.0) - server_before
    executed = [i for r in results for i in r["executed"]]
    distinct = set(executed)
    check = {"tool": row.tool, "location": location, "grid": row.grid}
    checked = subprocess.run(command(check, "--verify"), capture_output=True, text=True)
    if checked.returncode != 0:
        raise SystemExit(f"checking the store failed:\n{checked.stdout}{checked.stderr}")
    found = json.loads(checked.stdout.splitlines()[-1])
    messages = [line for log in logs for line in log.read_text().splitlines() if line.strip()]
    left = found.get("running", False) or Path(f"{location}.claims").exists()
    return Sample(
        wall_s=max(r["end"] for r in results) - started,
        cpu_s=sum(r["cpu_s"] for r in results),
        exit_cpu_s=exit_cpu,
        server_cpu_s=server_cpu,
        executions=[len(r["executed"]) for r in results],
        duplicates=len(executed) - len(distinct),
        missing=row.grid - len(distinct),
        recorded=found["recorded"],
        second_pass=found["second_pass"],
        claims_left=bool(left),
        messages=messages,
    )


def measure(row: Row, work: Path, pg: Postgres | None) -> None:
    """One repeat of a row, in a fresh directory (and a fresh table)."""
    home = Path(tempfile.mkdtemp(prefix=f"{row.tool}-{row.format}-{row.workers}-", dir=work))
    if row.format == "postgresql":
        assert pg is not None
        location = pg.location()
    elif row.tool == "stet":
        location = str(home / f"store{FORMATS[row.format]}")
    else:
        location = str(home / ("cache" if row.tool != "loop" else "done.csv"))
    server = pg if row.format == "postgresql" else None
    try:
        row.samples.append(run_once(row, location, home, server))
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if row.format == "postgresql" and pg is not None:
            pg.drop_tables()


# ---------------------------------------------------------------------- the run


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    rows: list[Row]
    postgres: str  # "" when measured, else why it was left out
    filesystem: str  # where the file stores (and their claims) were
    seconds: float
    load_at_start: str
    load_at_end: str


def plan(s: Settings, formats: Sequence[str]) -> list[Row]:
    """Every row: per format a claims-off baseline and N workers with claims, both
    scenarios; then the peers with the same workers over the same grids."""
    rows = []
    for name in formats:
        rows.append(Row("stet", name, TRIVIAL, 1, False, s.grid))
        rows += [Row("stet", name, TRIVIAL, n, True, s.grid) for n in s.workers]
        rows += [Row("stet", name, SLEEP, n, True, s.sleep_grid) for n in s.workers]
    for scenario, grid in ((TRIVIAL, s.grid), (SLEEP, s.sleep_grid)):
        for tool in PEERS:
            rows += [Row(tool, tool, scenario, n, False, grid) for n in s.workers]
    return rows


def filesystem(path: Path) -> str:
    """The type of the file system holding ``path`` (``ext4``, ``tmpfs``), if known."""
    where, kind = "", "unknown"
    with contextlib.suppress(OSError), open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            mount, fstype = line.split()[1:3]
            mount = mount.replace("\\040", " ")
            inside = f"{path}/".startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(where):
                where, kind = mount, fstype
    return kind


def run(s: Settings, work: Path, formats: Sequence[str], url: str | None) -> Results:
    load_at_start, start = load_average(), time.perf_counter()
    pg, why = None, ""
    if "postgresql" in formats:
        progress("PostgreSQL: finding a server")
        pg, why = find_postgres(url)
        if pg is None:
            progress(f"PostgreSQL left out: {why}")
            formats = [f for f in formats if f != "postgresql"]
    rows = plan(s, formats)
    try:
        for repeat in range(s.repeats):  # repeats outermost: noise spreads over every row
            for row in rows:
                progress(
                    f"repeat {repeat + 1}/{s.repeats}: {row.name}, {row.scenario}, "
                    f"{row.workers} worker{'s' if row.workers > 1 else ''}"
                )
                measure(row, work, pg)
    finally:
        if pg is not None:
            pg.close()
    took = time.perf_counter() - start
    return Results(s, rows, why, filesystem(work), took, load_at_start, load_average())


# ---------------------------------------------------------------------- reports


def us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def times(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def baseline(rows: Sequence[Row], row: Row) -> Row | None:
    """What a row's per-run cost is compared with: one process of the same tool and format
    over the same grid without claims (stet's claims-off row; a peer's own 1-worker row)."""
    for other in rows:
        if (other.tool, other.format, other.scenario, other.workers, other.claims) == (
            row.tool,
            row.format,
            TRIVIAL if row.tool == "stet" else row.scenario,
            1,
            False,
        ):
            return other
    return None


Measure = Callable[["Row", Sample], float]


def ratio(row: Row, base: Row, measure: Measure) -> float:
    """The median over the repeats of the row's measure over the base's in the same repeat
    (measured minutes apart, so a slow spell of the machine falls on both)."""
    pairs = zip(row.samples, base.samples, strict=True)
    return statistics.median(measure(row, s) / measure(base, b) for s, b in pairs)


def difference(row: Row, base: Row, measure: Measure) -> float:
    """The median over the repeats of the row's measure minus the base's, repeat by repeat."""
    pairs = zip(row.samples, base.samples, strict=True)
    return statistics.median(measure(row, s) - measure(base, b) for s, b in pairs)


def by_worker(sample: Sample) -> str:
    return "+".join(str(n) for n in sample.executions)


def worst_check(row: Row) -> str:
    """The checks of a stet row over its repeats: "ok", or what went wrong."""
    problems = []
    for s in row.samples:
        expected = row.grid + row.workers  # each worker's warm-up call is a record too
        if row.tool == "stet" and s.recorded != expected:
            problems.append(f"{s.recorded} records, not {expected}")
        if s.second_pass:
            problems.append(f"second pass ran {s.second_pass}")
        if s.claims_left:
            problems.append("a claim left")
        if row.tool == "stet" and s.messages:
            problems.append(f"printed: {s.messages[0][:60]}")
    return "; ".join(sorted(set(problems))) or "ok"


def sweep_table(rows: Sequence[Row], scenario: str) -> str:
    header = [
        "tool",
        "workers",
        "runs/s",
        "wall (s)",
        "CPU per run (us)",
        "wall x N per run (us)",
        "CPU / 1 process, no claims",
        "wall x N / 1 process, no claims",
        "executions by worker",
        "duplicates",
        "missing",
        "store afterwards",
    ]
    lines = []
    for row in rows:
        if row.scenario != scenario:
            continue
        base = baseline(rows, row)
        typical = row.typical()
        lines.append(
            [
                row.name,
                str(row.workers),
                f"{row.grid / row.wall_s():,.0f}",
                f"{row.wall_s():.3f}",
                us(row.cpu_us()),
                us(row.wall_n_us()),
                times(ratio(row, base, Row.cpu_of)) if base else "-",
                times(ratio(row, base, Row.wall_n_of)) if base else "-",
                by_worker(typical),
                str(max(s.duplicates for s in row.samples)),
                str(max(s.missing for s in row.samples)),
                worst_check(row),
            ]
        )
    return table(header, lines)


def sleep_table(rows: Sequence[Row]) -> str:
    """The sleeping body: wall time by N, and the speed-up over one worker."""
    header = ["tool", "workers", "wall (s)", "runs/s", "speed-up over 1 worker"]
    header += ["CPU per run (us)", "executions by worker", "duplicates", "missing"]
    header += ["store afterwards"]
    lines = []
    for row in rows:
        if row.scenario != SLEEP:
            continue
        one = next(
            (r for r in rows if r.scenario == SLEEP and r.name == row.name and r.workers == 1),
            None,
        )
        lines.append(
            [
                row.name,
                str(row.workers),
                f"{row.wall_s():.3f}",
                f"{row.grid / row.wall_s():,.0f}",
                f"{one.wall_s() / row.wall_s():.2f}" if one else "-",
                us(row.cpu_us()),
                by_worker(row.typical()),
                str(max(s.duplicates for s in row.samples)),
                str(max(s.missing for s in row.samples)),
                worst_check(row),
            ]
        )
    return table(header, lines)


def overhead_table(rows: Sequence[Row]) -> str:
    """One process, claims on and off: what a claim adds to each run."""
    header = ["format", "record, claims off: CPU (us/run)", "claims on: CPU (us/run)"]
    header += ["claim overhead: CPU (us/run)", "claims off: wall (us/run)"]
    header += ["claims on: wall (us/run)", "claim overhead: wall (us/run)"]
    lines = []
    for off in rows:
        if off.tool != "stet" or off.claims:
            continue
        on = next(
            r
            for r in rows
            if r.tool == "stet" and r.format == off.format and r.scenario == TRIVIAL
            if r.claims and r.workers == 1
        )
        lines.append(
            [
                off.format,
                us(off.cpu_us()),
                us(on.cpu_us()),
                us(difference(on, off, Row.cpu_of)),
                us(off.wall_n_us()),
                us(on.wall_n_us()),
                us(difference(on, off, Row.wall_n_of)),
            ]
        )
    return table(header, lines)


def target_table(rows: Sequence[Row]) -> str:
    """Per format: the largest ratio over N, on CPU (the target) and on wall x N."""
    header = ["format", "target", "CPU ratio by N", "worst", "met", "wall x N ratio by N"]
    lines = []
    for off in rows:
        if off.tool != "stet" or off.claims:
            continue
        mine = [
            r for r in rows if r.tool == "stet" and r.format == off.format and r.scenario == TRIVIAL
        ]
        mine = [r for r in mine if r.claims]
        cpu = [ratio(r, off, Row.cpu_of) for r in mine]
        wall = [ratio(r, off, Row.wall_n_of) for r in mine]
        lines.append(
            [
                off.format,
                f"{TARGET:g}x",
                ", ".join(f"{r.workers}: {times(v)}" for r, v in zip(mine, cpu, strict=True)),
                times(max(cpu)),
                "yes" if max(cpu) <= TARGET else "**no**",
                ", ".join(f"{r.workers}: {times(v)}" for r, v in zip(mine, wall, strict=True)),
            ]
        )
    return table(header, lines)


def server_note(rows: Sequence[Row]) -> str:
    """How much of PostgreSQL's CPU per run is the server's."""
    mine = [r for r in rows if r.format == "postgresql" and r.scenario == TRIVIAL]
    if not mine:
        return ""
    if any(r.server_us() is None for r in mine):
        return (
            "PostgreSQL rows count the workers' CPU only: the server was not started by this "
            "script, so its processes were not measured."
        )
    shares = ", ".join(
        f"{r.workers} worker{'s' if r.workers > 1 else ''}"
        f"{'' if r.claims else ' (claims off)'}: {us(r.server_us())} of {us(r.cpu_us())}"
        for r in mine
    )
    return (
        "PostgreSQL rows add the server's CPU (its processes' user + system time, in clock "
        f"ticks) to the workers'; the server's share, us per run: {shares}."
    )


def versions() -> str:
    import stet

    packages = ("joblib", "diskcache", "pyarrow", "psycopg")
    return machine(f"stet {stet.__version__}{source_state(ROOT)}", packages)


def report(results: Results) -> str:
    s = results.settings
    context = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {versions()}; load average "
        f"(1, 5, 15 min) {results.load_at_start} at the start, {results.load_at_end} at the "
        f"end; file stores on {results.filesystem}; {s.repeats} "
        f"repeat{'s' if s.repeats > 1 else ''}, medians shown; the run took "
        f"{results.seconds / 60:.1f} min."
    )
    parts = [context]
    if results.postgres:
        parts.append(f"PostgreSQL left out: {results.postgres}")
    rows = results.rows
    parts += [
        f"### Trivial body: {s.grid:,} runs, every worker over the whole grid\n\n"
        + sweep_table(rows, TRIVIAL)
        + (f"\n\n{note}" if (note := server_note(rows)) else ""),
        "### Claim overhead, one process\n\n" + overhead_table(rows),
        "### Target: claims on, per run, at most 3 times one process's record cost\n\n"
        + target_table(rows),
        f"### Body sleeping 1 ms: {s.sleep_grid:,} runs\n\n" + sleep_table(rows),
    ]
    return "\n\n".join(parts)


# ---------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    aliases = {"postgres": "postgresql", "pg": "postgresql"}
    quick = "small grids, 1, 2 and 4 workers"
    options = command_line(__doc__, quick, list(FORMATS), "comma-separated", aliases)
    options.add_argument(
        "--postgres-url",
        metavar="URL",
        help=f"a PostgreSQL server to use (default: ${ENV_URL}, else a throwaway server)",
    )
    options.add_argument("--verify", help=argparse.SUPPRESS)
    args = options.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return
    if args.verify:
        verify(json.loads(args.verify))
        return

    def measure_all(work: Path) -> Results:
        return run(QUICK if args.quick else FULL, work, args.formats, args.postgres_url)

    measure_and_report(args, "stet-parallel-", measure_all, report)


if __name__ == "__main__":
    main()
