"""What keeping results costs (``@stet.once(results=True)``), and how fast a store loads.

Run it from the repository root, with the ``bench`` and ``pandas`` extras installed
(``pip install -e ".[bench,pandas]"``: joblib, diskcache, psutil, pyarrow, pandas)::

    python benchmarks/results.py              # the full run: about 7 minutes on 2 cores
    python benchmarks/results.py --quick      # 10^3 calls, stores of 10^4 records: under a minute
    python benchmarks/results.py --formats csv,sqlite --repeats 3 --json results.json

The function is ``experiment(alpha, beta)``, two floats, with a body that only counts its
runs and returns a float (``alpha * beta - alpha / 3``) or a dict of 3 floats
(``experiment_dict``). The parameters are the points of a grid, the product of two
evenly spaced axes in [0, 1]. stet runs with its defaults (claims on) and messages off.
Every measurement runs in a fresh process; each is repeated (``--repeats``, 5 by default,
1 with ``--quick``) and the median is shown. The repeats go round all the rows in turn.

1. **Per call**, 10^4 calls (10^3 with ``--quick``), each row on a fresh store: after one
   warm-up call (it creates the store, and imports what the format needs), a loop of
   calls with new parameters (``record``; the list of return values is kept, as
   ``results.append(f(a, b))`` keeps it), then the same calls again, shuffled
   (``skip``). A format's three stet rows are measured in one process, their loops
   taking turns batch by batch (10 batches; the row that goes first rotates), so that
   the machine's noise falls on the three alike; each peer's row has a process of its
   own. The rows:

   * ``@stet.once(results=True)`` returning a float, and returning a dict of 3 floats;
   * ``@stet.once`` without results, whose skip returns ``None``;
   * ``joblib.Memory(...).cache`` and ``diskcache.Cache(...).memoize()`` on the same
     calls (miss and hit), returning a float and a dict;
   * "plain call": the undecorated body in the same loop, for reference.

   Each skip and hit is checked: the body did not run, and every value returned equals
   what the call returned when it ran (``None`` for stet without results). "Cost of
   results" is the results row minus the row without results of the same format, repeat
   by repeat: what keeping the value adds to a record and to a skip.

2. **Restart**: a store of 10^5 records (10^4 with ``--quick``) with a float result,
   written by calling ``experiment`` through ``@stet.once(results=True, claims=False)``
   (CSV), and ``stet.convert`` of that store for every other format. A fresh process
   imports stet, psutil and the format's module (pyarrow for Parquet), then decorates
   ``experiment`` with ``results=True`` or without and makes its first call, with stored
   parameters: the time from decorating to the call's return (stet reads the store and
   builds its index, with the result cells when ``results=True``), the resident memory
   (RSS) after that call minus before decorating, per record, and then the skip per call
   (the best of 3 loops over 10^4 stored calls, 10^3 with ``--quick``). The first call
   and every skip must return the stored result (``None`` without results) and run no
   body.

3. **Loading** the same stores of 10^5 records (two float parameters, one float result):
   ``stet.load(store)`` per format, ``stet.records(store)`` per format, and
   ``pandas.read_csv`` of the CSV store, alone and followed by ``pandas.to_datetime`` of
   its timestamp column (what ``stet.load`` gives besides). Each in a fresh process that
   imports pandas, stet and the format's module first; the time of the one call, and the
   peak RSS during it (over the RSS before it). Each frame is checked: every record, in
   order, float columns, and each result equal to ``alpha * beta - alpha / 3``
   computed anew.

Markdown tables go to stdout, progress to stderr.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _harness import (
    FORMATS,
    chosen_settings,
    command_line,
    load_average,
    machine,
    measure_and_report,
    peak_rss_bytes,
    rss_bytes,
    source_state,
)
from _harness import table as markdown_table

ROOT = Path(__file__).resolve().parent.parent
FORMAT_MODULES = {  # what stet imports to read each format (imported before the clocks)
    "csv": "stet.formats.csvfile",
    "jsonl": "stet.formats.jsonlines",
    "json": "stet.formats.jsonarray",
    "sqlite": "stet.formats.sqlitefile",
    "parquet": "stet.formats.parquetdir",
}
WARM_UP = (2.0, 2.0)  # outside the grid, whose values lie in [0, 1]
BATCHES = 10  # the rows measured in one process take turns this many times per loop
Pair = tuple[float, float]

# the rows of the per-call table: (tool, results kept, what the body returns)
STET, JOBLIB, DISKCACHE = "stet", "joblib", "diskcache"
FLOAT, DICT = "float", "dict"
RETURNS = {FLOAT: "float", DICT: "dict of 3 floats"}
TOOLS = {
    (STET, True): "`@stet.once(results=True)`",
    (STET, False): "`@stet.once`, no results (skip returns None)",
    (JOBLIB, False): "`joblib.Memory(...).cache`",
    (DISKCACHE, False): "`diskcache.Cache(...).memoize()`",
}

# the rows of the loading table
READ_CSV, READ_CSV_DATES, LOAD, RECORDS = "read_csv", "read_csv_dates", "load", "records"
READERS = {
    READ_CSV: "`pandas.read_csv(path)`",
    READ_CSV_DATES: "`pandas.read_csv(path)`, then `to_datetime(..., utc=True)`",
    LOAD: "`stet.load(store)`",
    RECORDS: "`stet.records(store)`",
}


# ---------------------------------------------------------------------- the runs

_body_runs = 0


def value_of(alpha: float, beta: float) -> float:
    """The float result: exact in IEEE arithmetic, so NumPy computes the same."""
    return alpha * beta - alpha / 3


def dict_of(alpha: float, beta: float) -> dict[str, float]:
    return {"loss": value_of(alpha, beta), "accuracy": 1 - alpha * beta, "seconds": alpha + beta}


def experiment(alpha: float, beta: float) -> float:
    """The benchmarked function: it counts its runs and returns a float."""
    global _body_runs
    _body_runs += 1
    return value_of(alpha, beta)


def experiment_dict(alpha: float, beta: float) -> dict[str, float]:
    """The same, returning a dict of 3 floats."""
    global _body_runs
    _body_runs += 1
    return dict_of(alpha, beta)


BODIES: dict[str, Callable[[float, float], Any]] = {FLOAT: experiment, DICT: experiment_dict}
EXPECTED: dict[str, Callable[[float, float], Any]] = {FLOAT: value_of, DICT: dict_of}


def grid_pairs(size: int) -> list[Pair]:
    """Every (alpha, beta) of the most nearly square grid of ``size`` points, in [0, 1]."""
    rows = max(n for n in range(1, int(size**0.5) + 1) if size % n == 0)
    cols = size // rows
    alphas = [i / (rows - 1) for i in range(rows)]
    betas = [j / (cols - 1) for j in range(cols)]
    return [(a, b) for a in alphas for b in betas]


def shuffled(pairs: Sequence[Pair], count: int, seed: int) -> list[Pair]:
    """``count`` of ``pairs`` (all when ``count`` is larger), in a random order."""
    rng = random.Random(seed)
    chosen = list(pairs) if count >= len(pairs) else rng.sample(list(pairs), count)
    rng.shuffle(chosen)
    return chosen


def take_runs() -> int:
    """The body's runs since the last look, and start counting again."""
    global _body_runs
    runs, _body_runs = _body_runs, 0
    return runs


# ---------------------------------------------------------------------- measuring processes


def wrapped(variant: dict[str, Any]) -> Callable[[float, float], Any]:
    """The body behind the row's tool, as a user would write it."""
    body = BODIES[variant["returns"]]
    tool, location = variant["tool"], variant["location"]
    if tool == STET:
        import stet

        decorate = stet.once(store=location, verbose=False, results=variant["results"])
        return decorate(body)
    if tool == JOBLIB:
        import joblib  # type: ignore[import-untyped]

        return joblib.Memory(location=location, verbose=0).cache(body)  # type: ignore[no-any-return]
    if tool == DISKCACHE:
        import diskcache  # type: ignore[import-untyped]

        return diskcache.Cache(location).memoize()(body)  # type: ignore[no-any-return]
    raise ValueError(f"unknown tool {tool!r}")


def timed_calls(
    func: Callable[[float, float], Any], pairs: Sequence[Pair]
) -> tuple[float, list[Any]]:
    """Nanoseconds of one loop that keeps the return values, and the values."""
    start = time.perf_counter_ns()
    found = [func(a, b) for a, b in pairs]
    return time.perf_counter_ns() - start, found


def compare(found: Sequence[Any], expected: Sequence[Any], what: str) -> list[str]:
    """What differs between the values returned and those expected, if anything."""
    bad = [a for a, b in zip(found, expected, strict=True) if a != b or type(a) is not type(b)]
    if not bad:
        return []
    return [f"{what}: {len(bad)} of {len(found)} wrong (first: {bad[0]!r})"]


def interleaved(
    funcs: Sequence[Callable[[float, float], Any]], pairs: Sequence[Pair], batches: int
) -> list[tuple[float, list[Any]]]:
    """Each function over ``pairs`` in turns of one batch each (the first to go rotating
    from batch to batch): microseconds per call of each, and its return values."""
    size = -(-len(pairs) // batches)
    spent = [0.0] * len(funcs)
    found: list[list[Any]] = [[] for _ in funcs]
    for number, first in enumerate(range(0, len(pairs), size)):
        batch = pairs[first : first + size]
        for turn in range(len(funcs)):
            i = (number + turn) % len(funcs)
            took, values = timed_calls(funcs[i], batch)
            spent[i] += took
            found[i] += values
    return [(ns / len(pairs) / 1000, values) for ns, values in zip(spent, found, strict=True)]


def measure_calls(spec: dict[str, Any]) -> dict[str, Any]:
    """The rows of the per-call table of one format (or one peer's row), in this fresh
    process, each on a fresh store of its own: their loops take turns, batch by batch,
    so that the machine's noise falls on every row alike."""
    variants = spec["variants"]
    for variant in variants:
        importlib.import_module(variant["tool"])  # import time is not a call's
    if spec["format"]:
        importlib.import_module(FORMAT_MODULES[spec["format"]])
    calls, batches = spec["calls"], spec["batches"]
    pairs = grid_pairs(calls)
    again = shuffled(pairs, calls, seed=spec["seed"])
    funcs = [wrapped(variant) for variant in variants]
    problems: list[list[str]] = [[] for _ in variants]
    for func, found in zip(funcs, problems, strict=True):
        func(*WARM_UP)
        if take_runs() != 1:
            found.append("the warm-up call did not run")
    records = interleaved(funcs, pairs, batches)
    if (runs := take_runs()) != calls * len(funcs):
        for found in problems:
            found.append(f"record: the bodies ran {runs} times, not {calls} each")
    skips = interleaved(funcs, again, batches)
    if (runs := take_runs()) != 0:
        for found in problems:
            found.append(f"skip: the bodies ran {runs} times")
    plains = interleaved([BODIES[v["returns"]] for v in variants], again, batches)
    take_runs()
    rows = []
    for variant, (record_us, recorded), (skip_us, skipped), (plain_us, _), found in zip(
        variants, records, skips, plains, problems, strict=True
    ):
        compute = EXPECTED[variant["returns"]]
        found += compare(recorded, [compute(*p) for p in pairs], "record")
        keeps = variant["tool"] != STET or variant["results"]
        expected = [compute(*p) if keeps else None for p in again]
        found += compare(skipped, expected, "skip")
        check = "; ".join(found) or "ok"
        rows.append(
            {"record_us": record_us, "skip_us": skip_us, "plain_us": plain_us, "check": check}
        )
    return {"rows": rows}


def measure_restart(spec: dict[str, Any]) -> dict[str, Any]:
    """The first call on a large store with results kept or not, in this fresh process."""
    import stet

    importlib.import_module(FORMAT_MODULES[spec["format"]])
    rss_bytes()  # psutil's import is not the index's memory
    pairs = grid_pairs(spec["records"])  # kept: its memory is not free for the index
    sample = shuffled(pairs, spec["skip_calls"], seed=spec["seed"])
    keeps = spec["results"]
    expected = [value_of(*p) if keeps else None for p in sample]
    gc.collect()
    before, start = rss_bytes(), time.perf_counter()
    func = stet.once(store=spec["location"], verbose=False, results=keeps)(experiment)
    first = func(*sample[0])
    found: dict[str, Any] = {"first_s": time.perf_counter() - start}
    gc.collect()
    found["rss_growth"] = rss_bytes() - before
    problems = compare([first], expected[:1], "first call")
    loops = [timed_calls(func, sample) for _ in range(3)]
    found["skip_us"] = min(ns for ns, _ in loops) / len(sample) / 1000
    for _, values in loops:
        problems += compare(values, expected, "skip")
    if (runs := take_runs()) != 0:
        problems.append(f"the body ran {runs} times")
    found["check"] = "; ".join(dict.fromkeys(problems)) or "ok"
    return found


def check_frame(frame: Any, pairs: Sequence[Pair], dates: bool) -> list[str]:
    """What is wrong with a frame of the store, if anything."""
    import pandas

    columns = ["alpha", "beta", "result", "_stet_timestamp"]
    if list(frame.columns) != columns:
        return [f"columns {list(frame.columns)}"]
    problems = []
    if len(frame) != len(pairs):
        return [f"{len(frame)} rows, not {len(pairs)}"]
    for name in columns[:3]:
        if frame[name].dtype != "float64":
            problems.append(f"{name} is {frame[name].dtype}")
    alphas, betas = zip(*pairs, strict=True)
    if frame["alpha"].tolist() != list(alphas) or frame["beta"].tolist() != list(betas):
        problems.append("the parameters differ from the grid's, or are out of order")
    wrong = int((frame["result"] != frame["alpha"] * frame["beta"] - frame["alpha"] / 3).sum())
    if wrong:
        problems.append(f"{wrong} results differ from alpha * beta - alpha / 3")
    stamps = frame["_stet_timestamp"]
    if dates and not isinstance(stamps.dtype, pandas.DatetimeTZDtype):
        problems.append(f"_stet_timestamp is {stamps.dtype}")
    return problems


def check_records(found: Sequence[dict[str, Any]], pairs: Sequence[Pair]) -> list[str]:
    """What is wrong with the records of the store, if anything."""
    if len(found) != len(pairs):
        return [f"{len(found)} records, not {len(pairs)}"]
    wrong = 0
    for record, (a, b) in zip(found, pairs, strict=True):
        stamp = record.get("_stet_timestamp")
        good = (record.get("alpha"), record.get("beta"), record.get("result")) == (
            a,
            b,
            value_of(a, b),
        )
        wrong += not (good and isinstance(stamp, datetime) and stamp.tzinfo is not None)
    return [f"{wrong} records wrong"] if wrong else []


def measure_load(spec: dict[str, Any]) -> dict[str, Any]:
    """One read of a store of the loading table, in this fresh process."""
    import pandas

    import stet

    importlib.import_module(FORMAT_MODULES[spec["format"]])
    pairs = grid_pairs(spec["records"])
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
        problems = check_records(found, pairs)
    else:
        problems = check_frame(found, pairs, dates=how != READ_CSV)
    return {"wall_s": took, "peak_growth": peak, "check": "; ".join(problems) or "ok"}


def fill_store(spec: dict[str, Any]) -> dict[str, Any]:
    """Record the grid through stet, results kept: the CSV store the others come from."""
    import stet

    func = stet.once(store=spec["location"], verbose=False, results=True, claims=False)(experiment)
    pairs = grid_pairs(spec["records"])
    start = time.perf_counter()
    for a, b in pairs:
        func(a, b)
    took = time.perf_counter() - start
    if (runs := take_runs()) != len(pairs):
        raise SystemExit(f"filling: the body ran {runs} times, not {len(pairs)}")
    return {"fill_s": took}


def convert_store(spec: dict[str, Any]) -> dict[str, Any]:
    """Convert the CSV store into another format (in a fresh process, as a user would)."""
    import stet

    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        count = stet.convert(spec["source"], spec["location"])
    took = time.perf_counter() - start
    if count != spec["records"]:
        raise SystemExit(f"stet.convert copied {count} records, not {spec['records']}")
    return {"fill_s": took}


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "calls": measure_calls,
    "restart": measure_restart,
    "load": measure_load,
    "fill": fill_store,
    "convert": convert_store,
}


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; return what it found (its last line)."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({spec['worker']}):\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    calls: int  # per loop of the per-call table
    records: int  # in the stores of the restart and loading tables
    skip_calls: int  # per skip loop after a restart
    repeats: int


FULL = Settings(calls=10**4, records=10**5, skip_calls=10**4, repeats=5)
QUICK = Settings(calls=10**3, records=10**4, skip_calls=10**3, repeats=1)


@dataclass
class CallRow:
    """One tool, store format and return type of the per-call table."""

    tool: str
    results: bool
    returns: str  # a key of RETURNS
    format: str  # a key of FORMATS; "" for the peers
    samples: list[dict[str, Any]] = field(default_factory=list)  # one per repeat

    @property
    def name(self) -> str:
        return TOOLS[(self.tool, self.results)]

    def median(self, name: str) -> float:
        return statistics.median(float(s[name]) for s in self.samples)


@dataclass
class RestartRow:
    """The first call on one format's store, with results kept or not."""

    format: str
    results: bool
    samples: list[dict[str, Any]] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(float(s[name]) for s in self.samples)


@dataclass
class LoadRow:
    """One way of reading one format's store."""

    how: str  # a key of READERS
    format: str
    samples: list[dict[str, Any]] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(float(s[name]) for s in self.samples)

    def best(self, name: str) -> float:
        return min(float(s[name]) for s in self.samples)


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    formats: list[str]
    calls: list[CallRow]
    restarts: list[RestartRow]
    loads: list[LoadRow]
    fills: dict[str, float]  # format -> seconds to fill its store (not measured as such)
    source: str  # stet's commit when the run started, and whether its source differed
    seconds: float
    load_at_start: str
    load_at_end: str


def progress(text: str) -> None:
    print(f"[results] {text}", file=sys.stderr, flush=True)


def plan_calls(formats: Sequence[str]) -> list[list[CallRow]]:
    """The rows of the per-call table, grouped by the process that measures them: a
    format's stet rows together, each peer's row alone."""
    groups = []
    for name in formats:
        rows = [CallRow(STET, False, FLOAT, name)]
        rows += [CallRow(STET, True, FLOAT, name), CallRow(STET, True, DICT, name)]
        groups.append(rows)
    for tool in (JOBLIB, DISKCACHE):
        groups += [[CallRow(tool, False, returns, "")] for returns in RETURNS]
    return groups


def measure_call_group(rows: Sequence[CallRow], s: Settings, work: Path, repeat: int) -> None:
    home = work / "calls"
    home.mkdir()
    try:
        variants = []
        for number, row in enumerate(rows):
            name = f"store{number}{FORMATS[row.format]}" if row.format else f"cache{number}"
            variant = {"tool": row.tool, "results": row.results, "returns": row.returns}
            variants.append({**variant, "location": str(home / name)})
        spec = {
            "worker": "calls",
            "format": rows[0].format,
            "variants": variants,
            "calls": s.calls,
            "batches": BATCHES,
            "seed": repeat,
        }
        found = run_worker(spec)["rows"]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    for row, sample in zip(rows, found, strict=True):
        row.samples.append(sample)


def fill_stores(
    s: Settings, work: Path, formats: Sequence[str], fills: dict[str, float]
) -> dict[str, Path]:
    """A store of ``s.records`` records per format: the CSV one recorded through stet, the
    others converted from it. Their paths."""
    source = work / "stores" / "csv" / "store.csv"
    source.parent.mkdir(parents=True)
    progress(f"filling a CSV store of {s.records:,} records through stet")
    fills["csv"] = run_worker({"worker": "fill", "location": str(source), "records": s.records})[
        "fill_s"
    ]
    stores = {"csv": source}
    for name in formats:
        if name == "csv":
            continue
        progress(f"converting it to {name}")
        location = work / "stores" / name / f"store{FORMATS[name]}"
        location.parent.mkdir()
        spec = {"source": str(source), "location": str(location), "records": s.records}
        fills[name] = run_worker({"worker": "convert", **spec})["fill_s"]
        stores[name] = location
    return stores


def run(s: Settings, work: Path, formats: Sequence[str]) -> Results:
    load_at_start, start = load_average(), time.perf_counter()
    source = source_state(ROOT)
    groups = plan_calls(formats)
    for repeat in range(s.repeats):  # repeats outermost: noise spreads over every row
        for group in groups:
            what = f"stet, {group[0].format}" if group[0].format else group[0].tool
            if not group[0].format:
                what += f", returning a {group[0].returns}"
            progress(f"per call, repeat {repeat + 1}/{s.repeats}: {what}")
            measure_call_group(group, s, work, repeat)
    calls = [row for group in groups for row in group]
    fills: dict[str, float] = {}
    stores = fill_stores(s, work, formats, fills)
    restarts = [RestartRow(name, keeps) for name in formats for keeps in (False, True)]
    loads = [LoadRow(READ_CSV, "csv"), LoadRow(READ_CSV_DATES, "csv")]
    loads += [LoadRow(how, name) for how in (LOAD, RECORDS) for name in formats]
    for repeat in range(s.repeats):
        for restart in restarts:
            progress(
                f"restart, repeat {repeat + 1}/{s.repeats}: {restart.format}, "
                f"results={restart.results}"
            )
            spec = {
                "worker": "restart",
                "format": restart.format,
                "results": restart.results,
                "location": str(stores[restart.format]),
                "records": s.records,
                "skip_calls": s.skip_calls,
                "seed": repeat,
            }
            restart.samples.append(run_worker(spec))
        for load in loads:
            progress(f"loading, repeat {repeat + 1}/{s.repeats}: {load.how} ({load.format})")
            spec = {
                "worker": "load",
                "how": load.how,
                "format": load.format,
                "location": str(stores[load.format]),
                "records": s.records,
            }
            load.samples.append(run_worker(spec))
    took = time.perf_counter() - start
    return Results(
        s,
        list(formats),
        calls,
        restarts,
        loads,
        fills,
        source,
        took,
        load_at_start,
        load_average(),
    )


# ---------------------------------------------------------------------- reports


def us(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 100 else f"{value:,.0f}"


def seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def paired(mine: Sequence[dict[str, Any]], theirs: Sequence[dict[str, Any]], name: str) -> float:
    """The median of the differences, repeat by repeat."""
    pairs = zip(mine, theirs, strict=True)
    return statistics.median(float(a[name]) - float(b[name]) for a, b in pairs)


def checks(samples: Sequence[dict[str, Any]]) -> str:
    return "; ".join(sorted({s["check"] for s in samples}))


def calls_table(rows: Sequence[CallRow]) -> str:
    header = ["how", "format", "returns", "record / miss (us per call)"]
    header += ["skip / hit (us per call)", "cost of results: record (us)"]
    header += ["cost of results: skip (us)", "plain call (us)", "skips return"]
    lines = []
    for row in rows:
        extra = ["-", "-"]
        if row.tool == STET and row.results:
            bare = next(
                r for r in rows if r.tool == STET and not r.results and r.format == row.format
            )
            extra = [us(paired(row.samples, bare.samples, n)) for n in ("record_us", "skip_us")]
        values = "None" if row.tool == STET and not row.results else "the values"
        check = checks(row.samples)
        lines.append(
            [
                row.name,
                row.format or "-",
                RETURNS[row.returns],
                us(row.median("record_us")),
                us(row.median("skip_us")),
                *extra,
                us(row.median("plain_us")),
                f"{values}: {check}" if check == "ok" else check,
            ]
        )
    return markdown_table(header, lines)


def restart_table(rows: Sequence[RestartRow], records: int) -> str:
    header = ["format", "first call (s), no results", "first call (s), results=True"]
    header += ["cost of results (s)", "memory (B/record), no results"]
    header += ["memory (B/record), results=True", "cost of results (B/record)"]
    header += ["skip (us), no results", "skip (us), results=True", "check"]
    lines = []
    for name in dict.fromkeys(r.format for r in rows):
        bare = next(r for r in rows if r.format == name and not r.results)
        keeps = next(r for r in rows if r.format == name and r.results)
        lines.append(
            [
                name,
                seconds(bare.median("first_s")),
                seconds(keeps.median("first_s")),
                seconds(paired(keeps.samples, bare.samples, "first_s")),
                f"{bare.median('rss_growth') / records:.0f}",
                f"{keeps.median('rss_growth') / records:.0f}",
                f"{paired(keeps.samples, bare.samples, 'rss_growth') / records:.0f}",
                us(bare.median("skip_us")),
                us(keeps.median("skip_us")),
                checks([*bare.samples, *keeps.samples]),
            ]
        )
    return markdown_table(header, lines)


def load_table(rows: Sequence[LoadRow], records: int) -> str:
    header = ["how", "format", "wall (s), median [best]", "us per record"]
    header += ["peak memory (MB)", "vs `pandas.read_csv`", "check"]
    pandas_s = next(r for r in rows if r.how == READ_CSV).median("wall_s")
    lines = [
        [
            READERS[row.how],
            row.format,
            f"{seconds(row.median('wall_s'))} [{seconds(row.best('wall_s'))}]",
            us(row.median("wall_s") / records * 1e6),
            f"{row.median('peak_growth') / 1e6:.1f}",
            f"{row.median('wall_s') / pandas_s:.1f}x",
            checks(row.samples),
        ]
        for row in rows
    ]
    return markdown_table(header, lines)


def versions(source: str) -> str:
    import stet

    packages = ("joblib", "diskcache", "pandas", "pyarrow", "psutil")
    return machine(f"stet {stet.__version__}{source}", packages)


def report(results: Results) -> str:
    s = results.settings
    context = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {versions(results.source)}; "
        f"load average (1, 5, 15 min) {results.load_at_start} at the start, "
        f"{results.load_at_end} at the end; {s.repeats} repeat{'s' if s.repeats > 1 else ''}, "
        f"medians shown; the run took {results.seconds / 60:.1f} min."
    )
    return "\n\n".join(
        [
            context,
            f"### Per call: {s.calls:,} calls, trivial body\n\n" + calls_table(results.calls),
            f"### Restart: the first call on a store of {s.records:,} records\n\n"
            + restart_table(results.restarts, s.records),
            f"### Loading {s.records:,} records\n\n" + load_table(results.loads, s.records),
        ]
    )


# ---------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    quick = "10^3 calls, stores of 10^4 records, one repeat"
    options = command_line(__doc__, quick, list(FORMATS), "comma-separated", repeats=5)
    args = options.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(WORKERS[spec["worker"]](spec)))
        return
    settings = chosen_settings(args, QUICK, FULL)

    def measure_all(work: Path) -> Results:
        return run(settings, work, args.formats)

    measure_and_report(args, "stet-results-", measure_all, report)


if __name__ == "__main__":
    main()
