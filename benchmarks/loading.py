"""A store of results on restart and when loaded: the first call, and ``stet.load``.

Run it from the repository root, with the ``bench`` and ``pandas`` extras installed
(``pip install -e ".[bench,pandas]"``: psutil, pyarrow, pandas)::

    python benchmarks/loading.py              # the full run: about 4 minutes on 2 cores
    python benchmarks/loading.py --quick      # stores of 10^4 records, one repeat
    python benchmarks/loading.py --formats csv,sqlite --repeats 3 --json results.json

A store of 10^5 records (10^4 with ``--quick``) of ``experiment(alpha, beta)`` (see
``_returns.py``) with a float result, recorded through ``@stet.once(results=True,
claims=False)`` (CSV), and ``stet.convert`` of it for every other format. Each
measurement runs in a fresh process, repeated (``--repeats``, 5 by default; median shown).

1. **Restart**: after importing stet, psutil and the format's module, decorate
   ``experiment`` with ``results=True`` or without and make the first call, with stored
   parameters: the time from decorating to its return, the RSS it added per record, then
   the skip per call (the best of 3 loops over 10^4 stored calls, 10^3 with ``--quick``).
   Every call must return the stored result (``None`` without results), running no body.
2. **Loading**: ``stet.load`` and ``stet.records`` per format, and ``pandas.read_csv`` of
   the CSV store, alone and followed by ``pandas.to_datetime`` of its timestamps (what
   ``stet.load`` gives besides), after importing pandas, stet and the format's module:
   the time of the one call, and the peak RSS during it. Each frame is checked: every
   record, in order, float columns, each result ``alpha * beta - alpha / 3`` anew.

Tables to stdout, progress to stderr.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _returns as r
from _harness import (
    FORMATS,
    Clock,
    Sampled,
    chosen_settings,
    command_line,
    context,
    convert_store,
    import_format,
    measure_and_report,
    peak_rss_bytes,
    progress,
    repeats_note,
    rss_bytes,
    run_worker,
    section,
    table,
    worker_main,
)
from _returns import FULL, QUICK, QUICK_HELP, Settings

READ_CSV, READ_CSV_DATES, LOAD, RECORDS = "read_csv", "read_csv_dates", "load", "records"
READERS = {
    READ_CSV: "`pandas.read_csv(path)`",
    READ_CSV_DATES: "`pandas.read_csv(path)`, then `to_datetime(..., utc=True)`",
    LOAD: "`stet.load(store)`",
    RECORDS: "`stet.records(store)`",
}


def measure_restart(spec: dict[str, Any]) -> dict[str, Any]:
    """The first call on a large store with results kept or not, in this fresh process."""
    import stet

    import_format(spec["format"])
    rss_bytes()  # psutil's import is not the index's memory
    pairs = r.grid_pairs(spec["records"])  # kept: its memory is not free for the index
    sample = r.shuffled(pairs, spec["skip_calls"], seed=spec["seed"])
    keeps = spec["results"]
    expected = [r.value_of(*p) if keeps else None for p in sample]
    gc.collect()
    before, start = rss_bytes(), time.perf_counter()
    func = stet.once(store=spec["location"], verbose=False, results=keeps)(r.experiment)
    first = func(*sample[0])
    found: dict[str, Any] = {"first_s": time.perf_counter() - start}
    gc.collect()
    found["rss_growth"] = rss_bytes() - before
    problems = r.compare([first], expected[:1], "first call")
    loops = [r.timed_calls(func, sample) for _ in range(3)]
    found["skip_us"] = min(ns for ns, _ in loops) / len(sample) / 1000
    for _, values in loops:
        problems += r.compare(values, expected, "skip")
    if (runs := r.take_runs()) != 0:
        problems.append(f"the body ran {runs} times")
    found["check"] = "; ".join(dict.fromkeys(problems)) or "ok"
    return found


def measure_load(spec: dict[str, Any]) -> dict[str, Any]:
    """One read of a store, in this fresh process."""
    import pandas

    import stet

    import_format(spec["format"])
    pairs = r.grid_pairs(spec["records"])
    how, location = spec["how"], spec["location"]
    gc.collect()
    before, start = rss_bytes(), time.perf_counter()
    if how == LOAD:
        found: Any = stet.load(location)
    elif how == RECORDS:
        found = stet.records(location)
    else:
        found = pandas.read_csv(location)
        if how == READ_CSV_DATES:
            found["_stet_timestamp"] = pandas.to_datetime(found["_stet_timestamp"], utc=True)
    took = time.perf_counter() - start
    peak = max(0, peak_rss_bytes() - before)
    if how == RECORDS:
        problems = r.check_records(found, pairs)
    else:
        problems = r.check_frame(found, pairs, dates=how != READ_CSV)
    return {"wall_s": took, "peak_growth": peak, "check": "; ".join(problems) or "ok"}


def fill_store(spec: dict[str, Any]) -> dict[str, Any]:
    """Record the grid through stet, results kept: the CSV store the others come from."""
    import stet

    func = stet.once(store=spec["location"], verbose=False, results=True, claims=False)
    recorded = func(r.experiment)
    pairs = r.grid_pairs(spec["records"])
    start = time.perf_counter()
    for a, b in pairs:
        recorded(a, b)
    took = time.perf_counter() - start
    if (runs := r.take_runs()) != len(pairs):
        raise SystemExit(f"filling: the body ran {runs} times, not {len(pairs)}")
    return {"fill_s": took}


WORKERS = {
    "restart": measure_restart,
    "load": measure_load,
    "fill": fill_store,
    "convert": convert_store,
}


@dataclass
class RestartRow(Sampled):
    """The first call on one format's store, with results kept or not."""

    format: str
    results: bool


@dataclass
class LoadRow(Sampled):
    """One way of reading one format's store."""

    how: str  # a key of READERS
    format: str


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    formats: list[str]
    restarts: list[RestartRow]
    loads: list[LoadRow]
    fills: dict[str, float]  # format -> seconds to fill its store (not measured as such)
    clock: Clock


def fill_stores(
    s: Settings, work: Path, formats: Sequence[str], fills: dict[str, float]
) -> dict[str, Path]:
    """A store of ``s.records`` records per format: the CSV one recorded through stet, the
    others converted from it. Their paths."""
    stores = {"csv": work / "stores" / "csv" / "store.csv"}
    stores["csv"].parent.mkdir(parents=True)
    progress("loading", f"filling a CSV store of {s.records:,} records through stet")
    spec = {"worker": "fill", "location": str(stores["csv"]), "records": s.records}
    fills["csv"] = run_worker(__file__, spec)["fill_s"]
    for name in (name for name in formats if name != "csv"):
        progress("loading", f"converting it to {name}")
        stores[name] = work / "stores" / name / f"store{FORMATS[name]}"
        stores[name].parent.mkdir()
        spec = {"source": str(stores["csv"]), "location": str(stores[name]), "records": s.records}
        fills[name] = run_worker(__file__, {"worker": "convert", **spec})["fill_s"]
    return stores


def run(s: Settings, work: Path, formats: Sequence[str]) -> Results:
    clock = Clock()
    fills: dict[str, float] = {}
    stores = fill_stores(s, work, formats, fills)
    restarts = [RestartRow(name, keeps) for name in formats for keeps in (False, True)]
    loads = [LoadRow(READ_CSV, "csv"), LoadRow(READ_CSV_DATES, "csv")]
    loads += [LoadRow(how, name) for how in (LOAD, RECORDS) for name in formats]
    common = {"records": s.records}
    for repeat in range(s.repeats):  # repeats outermost: noise spreads over every row
        for row in restarts:
            what = f"{row.format}, results={row.results}"
            progress("loading", f"restart, repeat {repeat + 1}/{s.repeats}: {what}")
            spec = {"worker": "restart", "format": row.format, "results": row.results}
            spec |= {"location": str(stores[row.format]), "skip_calls": s.skip_calls}
            row.samples.append(run_worker(__file__, {**spec, **common, "seed": repeat}))
        for load in loads:
            progress("loading", f"repeat {repeat + 1}/{s.repeats}: {load.how} ({load.format})")
            spec = {"worker": "load", "how": load.how, "format": load.format}
            spec |= {"location": str(stores[load.format])}
            load.samples.append(run_worker(__file__, {**spec, **common}))
    return Results(s, list(formats), restarts, loads, fills, clock.stop())


def restart_table(rows: Sequence[RestartRow], records: int) -> str:
    header = ["format", "first call (s), no results", "first call (s), results=True"]
    header += ["cost of results (s)", "memory (B/record), no results"]
    header += ["memory (B/record), results=True", "cost of results (B/record)"]
    header += ["skip (us), no results", "skip (us), results=True", "check"]
    lines = []
    for name in dict.fromkeys(row.format for row in rows):
        bare = next(row for row in rows if row.format == name and not row.results)
        keeps = next(row for row in rows if row.format == name and row.results)
        lines.append(
            [
                name,
                r.seconds(bare.median("first_s")),
                r.seconds(keeps.median("first_s")),
                r.seconds(r.paired(keeps.samples, bare.samples, "first_s")),
                f"{bare.median('rss_growth') / records:.0f}",
                f"{keeps.median('rss_growth') / records:.0f}",
                f"{r.paired(keeps.samples, bare.samples, 'rss_growth') / records:.0f}",
                r.us(bare.median("skip_us")),
                r.us(keeps.median("skip_us")),
                r.checks([*bare.samples, *keeps.samples]),
            ]
        )
    return table(header, lines)


def load_table(rows: Sequence[LoadRow], records: int) -> str:
    header = ["how", "format", "wall (s), median [best]", "us per record"]
    header += ["peak memory (MB)", "vs `pandas.read_csv`", "check"]
    pandas_s = next(row for row in rows if row.how == READ_CSV).median("wall_s")
    lines = [
        [
            READERS[row.how],
            row.format,
            f"{r.seconds(row.median('wall_s'))} [{r.seconds(row.best('wall_s'))}]",
            r.us(row.median("wall_s") / records * 1e6),
            f"{row.median('peak_growth') / 1e6:.1f}",
            f"{row.median('wall_s') / pandas_s:.1f}x",
            r.checks(row.samples),
        ]
        for row in rows
    ]
    return table(header, lines)


def report(results: Results) -> str:
    s = results.settings
    packages = ("pandas", "pyarrow", "psutil")
    return "\n\n".join(
        [
            context(results.clock, packages, repeats_note(s.repeats)),
            section(
                f"Restart: the first call on a store of {s.records:,} records",
                restart_table(results.restarts, s.records),
            ),
            section(f"Loading {s.records:,} records", load_table(results.loads, s.records)),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = command_line(__doc__, QUICK_HELP, list(FORMATS), "comma-separated", repeats=5)
    args = options.parse_args(argv)
    if worker_main(args, WORKERS):
        return
    settings = chosen_settings(args, QUICK, FULL)
    measure_and_report(
        args, "stet-loading-", lambda work: run(settings, work, args.formats), report
    )


if __name__ == "__main__":
    main()
