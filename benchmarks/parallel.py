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

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import _parallel_tables as tables
from _crowd import FORMATS, PEERS, SLEEP, TRIVIAL, Row, measure
from _harness import Clock, command_line, context, measure_and_report, progress, repeats_note
from _postgres import ENV_URL, find_postgres


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    grid: int  # runs in the trivial grid
    sleep_grid: int  # runs in the grid whose body sleeps 1 ms
    workers: tuple[int, ...]
    repeats: int


FULL = Settings(grid=2_000, sleep_grid=400, workers=(1, 2, 4, 8), repeats=3)
QUICK = Settings(grid=300, sleep_grid=100, workers=(1, 2, 4), repeats=1)


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    rows: list[Row]
    postgres: str  # "" when measured, else why it was left out
    filesystem: str  # where the file stores (and their claims) were
    clock: Clock


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
    clock = Clock()
    pg, why = None, ""
    if "postgresql" in formats:
        progress("parallel", "PostgreSQL: finding a server")
        pg, why = find_postgres(url)
        if pg is None:
            progress("parallel", f"PostgreSQL left out: {why}")
            formats = [f for f in formats if f != "postgresql"]
    rows = plan(s, formats)
    try:
        for repeat in range(s.repeats):  # repeats outermost: noise spreads over every row
            for row in rows:
                workers = f"{row.workers} worker{'s' if row.workers > 1 else ''}"
                what = f"{row.name}, {row.scenario}, {workers}"
                progress("parallel", f"repeat {repeat + 1}/{s.repeats}: {what}")
                measure(row, work, pg)
    finally:
        if pg is not None:
            pg.close()
    return Results(s, rows, why, filesystem(work), clock.stop())


def report(results: Results) -> str:
    s = results.settings
    details = f"file stores on {results.filesystem}; " + repeats_note(s.repeats)
    parts = [context(results.clock, ("joblib", "diskcache", "pyarrow", "psycopg"), details)]
    if results.postgres:
        parts.append(f"PostgreSQL left out: {results.postgres}")
    rows = results.rows
    note = tables.server_note(rows)
    parts += [
        f"### Trivial body: {s.grid:,} runs, every worker over the whole grid\n\n"
        + tables.sweep_table(rows, TRIVIAL)
        + (f"\n\n{note}" if note else ""),
        "### Claim overhead, one process\n\n" + tables.overhead_table(rows),
        "### Target: claims on, per run, at most 3 times one process's record cost\n\n"
        + tables.target_table(rows),
        f"### Body sleeping 1 ms: {s.sleep_grid:,} runs\n\n" + tables.sleep_table(rows),
    ]
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    aliases = {"postgres": "postgresql", "pg": "postgresql"}
    quick = "small grids, 1, 2 and 4 workers"
    options = command_line(__doc__, quick, list(FORMATS), "comma-separated", aliases)
    options.add_argument(
        "--postgres-url",
        metavar="URL",
        help=f"a PostgreSQL server to use (default: ${ENV_URL}, else a throwaway server)",
    )
    args = options.parse_args(argv)
    settings = QUICK if args.quick else FULL

    def measure_all(work: Path) -> Results:
        return run(settings, work, args.formats, args.postgres_url)

    measure_and_report(args, "stet-parallel-", measure_all, report)


if __name__ == "__main__":
    main()
