"""What ``@stet.once`` costs per call, per store open and per record, beside its peers.

Run it from the repository root, with the ``bench`` extra installed
(``pip install -e ".[bench]"``: numpy, joblib, diskcache, psutil)::

    python benchmarks/overhead.py            # the full run: 10 to 15 minutes on 2 cores
    python benchmarks/overhead.py --quick    # small stores only: under a minute
    python benchmarks/overhead.py --json results.json   # also keep the raw numbers
    python benchmarks/overhead.py --formats csv,parquet # only these in the formats table

For stores of 10^3 to 10^6 records of ``experiment(alpha, beta)``, two floats, it
measures with messages off (``@stet.once(store=..., verbose=False)``):

* open: the first call in a fresh process (it reads the file and builds the index),
  from decorating to the call's return; one fresh process per open;
* memory: resident memory (RSS) after that first call minus before it, per record,
  and the peak RSS during it;
* skip: per call, parameters already stored, the best of several timed loops;
* record: per call, new parameters, trivial body; lock, append and flush included;
* plain: the undecorated function in the same loop, for reference;
* ``python -c "import stet"`` against ``python -c "pass"``, in fresh processes.

Nothing is subtracted: every per-call time is the raw time of one call. Two value
distributions are measured: a grid (the product of two ``np.linspace``, as sweeps are)
and unique random floats. ``joblib.Memory(...).cache`` and ``diskcache.Cache(...)
.memoize()`` run the same grid calls in the same run, at the sizes they can be filled
in reasonable time. Markdown tables go to stdout, progress to stderr.

Large stet stores are written directly in stet's CSV layout (header, one line per
record, the ``.owner`` file); a self-check first records calls through stet and
verifies the hand-written file holds the same cells. Every timed skip and hit is
checked not to have run the function body.

Every store format is then measured the same way (``--formats`` picks them; all five by
default): at 10^3, 10^5 and 10^6 records (10^3 and 10^4 with ``--quick``), both value
distributions, each format's store is made by ``stet.convert`` of the hand-written CSV
store, in a fresh process, and that conversion is timed as its fill. Its open includes
whatever the format imports on first use (pyarrow for Parquet): nothing is subtracted.
Its size is the bytes of everything the store consists of (the file; every file of a
``.parquet`` directory; a ``.sqlite`` database and its ``-wal``), not the ``.owner``
file, per record, before any process records into it. A CSV store is cut back to its
length after each process; any other store is put back from a pristine copy (with its
side files, such as SQLite's ``-wal`` and ``-shm``) before each process, untimed. The
CSV rows of the formats table are the CSV measurements above, not a second run.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import platform
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
    check_written_store,
    command_line,
    load_average,
    measure_and_report,
    peak_rss_bytes,
    rss_bytes,
    table,
)

FUNCTION = "experiment"  # the qualname stet records as the store's owner
Pair = tuple[float, float]
Call = Callable[[Any, Any], Any]
_body_runs = 0


def experiment(alpha: float, beta: float) -> None:
    """The benchmarked function: two float parameters, a body that only counts its runs."""
    global _body_runs
    _body_runs += 1


# ------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    stet_sizes: tuple[int, ...]
    joblib_sizes: tuple[int, ...]
    diskcache_sizes: tuple[int, ...]
    opens: int  # fresh processes per store; each opens it once
    repeats: int  # timed loops per per-call measurement; the fastest is reported
    hit_calls: int  # calls per timed skip loop (stet)
    miss_calls: int  # calls per timed record loop (stet)
    peer_hit_calls: int  # the same for joblib and diskcache, which are slower per call
    peer_miss_calls: int
    imports: int  # fresh processes per import-time measurement
    format_sizes: tuple[int, ...]  # the sizes of the formats table, every format


FULL = Settings(
    stet_sizes=(10**3, 10**4, 10**5, 10**6),
    joblib_sizes=(10**3, 10**4),
    diskcache_sizes=(10**3, 10**5, 10**6),
    opens=5,
    repeats=7,
    hit_calls=20_000,
    miss_calls=2_000,
    peer_hit_calls=1_000,
    peer_miss_calls=200,
    imports=30,
    format_sizes=(10**3, 10**5, 10**6),
)
QUICK = Settings(
    stet_sizes=(10**3, 10**4),
    joblib_sizes=(10**3,),
    diskcache_sizes=(10**3, 10**4),
    opens=2,
    repeats=3,
    hit_calls=2_000,
    miss_calls=300,
    peer_hit_calls=200,
    peer_miss_calls=50,
    imports=8,
    format_sizes=(10**3, 10**4),
)
TARGETS = {  # at 10^6 records, on the 2-core reference machine
    "skip (us)": 2.0,
    "record (us)": 20.0,
    "open (s)": 1.5,
    "memory (B/record)": 150.0,
    'python -c "import stet" (ms)': 50.0,
}
FORMAT_TARGETS = {  # at 10^6 records; a format without an open target has no row for it
    "csv": {name: TARGETS[name] for name in ("skip (us)", "record (us)", "open (s)")},
    "jsonl": {"skip (us)": 2.0, "record (us)": 20.0},
    "json": {"skip (us)": 2.0, "record (us)": 20.0},
    "sqlite": {"skip (us)": 2.0, "record (us)": 100.0},
    "parquet": {"skip (us)": 2.0, "record (us)": 100.0, "open (s)": 1.0},
}
MEASURED = {"skip (us)": "hit_us", "record (us)": "miss_us", "open (s)": "open_s"}


# ------------------------------------------------------------------------ the values


def grid_shape(size: int) -> tuple[int, int]:
    """The most nearly square grid of ``size`` points: 1000 x 1000 for 10^6."""
    rows = max(n for n in range(1, int(size**0.5) + 1) if size % n == 0)
    return rows, size // rows


def grid_pairs(size: int) -> list[Pair]:
    """Every (alpha, beta) of a product of two ``np.linspace(0, 1, n)``."""
    import numpy as np

    rows, cols = grid_shape(size)
    alpha, beta = np.meshgrid(np.linspace(0, 1, rows), np.linspace(0, 1, cols), indexing="ij")
    return list(zip(alpha.ravel().tolist(), beta.ravel().tolist(), strict=True))


def random_pairs(size: int, seed: int = 1) -> list[Pair]:
    """Unique random floats in [0, 1): every cell a distinct 17-digit text."""
    import numpy as np

    values = np.random.default_rng(seed).random((size, 2)).tolist()
    return [(a, b) for a, b in values]


def new_pairs(count: int, rng: random.Random) -> list[Pair]:
    """Parameters no store holds: alpha in [2, 3), where no stored value lies."""
    return [(2.0 + rng.random(), rng.random()) for _ in range(count)]


def stored_sample(pairs: Sequence[Pair], count: int, seed: int = 2) -> list[Pair]:
    """``count`` stored pairs in random order (repeating when the store is smaller)."""
    rng = random.Random(seed)
    return [pairs[rng.randrange(len(pairs))] for _ in range(count)]


# --------------------------------------------------------------------- filling stores


def timestamps(count: int) -> list[str]:
    """ISO 8601 UTC times a millisecond apart, as stet writes them."""
    import numpy as np

    start = np.datetime64("2026-03-12T11:48:59.428485", "us")
    times = start + np.arange(count) * np.timedelta64(997, "us")
    return [text + "+00:00" for text in np.datetime_as_string(times, unit="us").tolist()]


def write_stet_store(path: Path, pairs: Sequence[Pair]) -> None:
    """Write a store in stet's CSV layout directly: header, records, owner file."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("alpha,beta,_stet_timestamp\n")
        out.writelines(
            f"{a!r},{b!r},{t}\n" for (a, b), t in zip(pairs, timestamps(len(pairs)), strict=True)
        )
    Path(f"{path}.owner").write_text(json.dumps({"function": FUNCTION}) + "\n", encoding="utf-8")


def check_writer_matches_stet(directory: Path) -> None:
    """Record calls through stet and check the hand-written store holds the same cells."""
    import stet

    pairs = grid_pairs(2_000) + random_pairs(1_000, seed=3)
    recorded = directory / "recorded.csv"
    wrapped = stet.once(store=recorded, verbose=False)(experiment)
    for a, b in pairs:
        wrapped(a, b)
    written = directory / "written.csv"
    write_stet_store(written, pairs)
    check_written_store(recorded, written, FUNCTION)


def store_bytes(home: Path) -> int:
    """The bytes of a store alone in the directory ``home``: its file or directory (every
    Parquet part and journal) and what its format keeps beside it (SQLite's ``-wal``);
    not the ``.owner`` and ``.lock`` files, nor SQLite's ``-shm`` memory index."""
    return sum(
        path.stat().st_size
        for path in home.rglob("*")
        if path.is_file() and not path.name.endswith((".owner", ".lock", "-shm"))
    )


def restorer(home: Path, pristine: Path) -> Callable[[], None]:
    """Put the store in ``home`` back as ``pristine`` holds it, side files and all: a
    Parquet directory, SQLite's ``-wal`` and ``-shm``, whatever a format keeps."""

    def restore() -> None:
        shutil.rmtree(home)
        shutil.copytree(pristine, home)

    return restore


def fill_joblib(location: Path, pairs: Sequence[Pair]) -> None:
    """Fill a joblib cache the only way joblib offers: calling the cached function."""
    import joblib  # type: ignore[import-untyped]

    cached = joblib.Memory(location=str(location), verbose=0).cache(experiment)
    for a, b in pairs:
        cached(a, b)


def fill_diskcache(location: Path, pairs: Sequence[Pair]) -> None:
    """Store what ``memoize`` stores for each call (key, ``None``), in transactions."""
    import diskcache  # type: ignore[import-untyped]

    with diskcache.Cache(location) as cache:
        key = cache.memoize()(experiment).__cache_key__
        for start in range(0, len(pairs), 10_000):
            with cache.transact():
                for a, b in pairs[start : start + 10_000]:
                    cache.set(key(a, b), None)


# -------------------------------------------------------------- the measuring worker


def wrap(tool: str, location: str) -> Call:
    """``experiment`` behind the tool, as a user would write it."""
    if tool == "stet":
        import stet

        return stet.once(store=location, verbose=False)(experiment)
    if tool == "joblib":
        import joblib

        return joblib.Memory(location=location, verbose=0).cache(experiment)  # type: ignore[no-any-return]
    if tool == "diskcache":
        import diskcache

        return diskcache.Cache(location).memoize()(experiment)  # type: ignore[no-any-return]
    raise ValueError(f"unknown tool {tool!r}")


def per_call_us(func: Call, calls: Sequence[Pair]) -> float:
    """Microseconds per call over one loop."""
    start = time.perf_counter_ns()
    for a, b in calls:
        func(a, b)
    return (time.perf_counter_ns() - start) / len(calls) / 1000


def best_us(func: Call, calls: Sequence[Pair], repeats: int) -> float:
    return min(per_call_us(func, calls) for _ in range(repeats))


def expect_runs(expected: int, what: str) -> None:
    global _body_runs
    if _body_runs != expected:
        raise SystemExit(f"{what}: the body ran {_body_runs} times, not {expected}")
    _body_runs = 0


def measure(spec: dict[str, Any]) -> dict[str, float]:
    """One fresh process: open the store, then time hits, plain calls and misses."""
    tool, repeats = spec["tool"], spec["repeats"]
    sample = [(a, b) for a, b in json.loads(Path(spec["sample"]).read_text())]
    importlib.import_module(tool)  # import time is measured on its own, not as open
    rss_bytes()  # and so is psutil's
    before, start = rss_bytes(), time.perf_counter()
    func = wrap(tool, spec["location"])
    func(*sample[0])
    result = {"open_s": time.perf_counter() - start}
    result["rss_growth"] = rss_bytes() - before
    result["peak_growth"] = max(0, peak_rss_bytes() - before)
    expect_runs(0, f"{tool}: the first call with stored parameters")
    result["hit_us"] = best_us(func, sample, repeats)
    expect_runs(0, f"{tool}: calls with stored parameters")
    if spec["numpy"]:
        import numpy as np

        as_numpy = [(np.float64(a), np.float64(b)) for a, b in sample]
        result["hit_numpy_us"] = best_us(func, as_numpy, repeats)
        expect_runs(0, f"{tool}: calls with stored parameters as NumPy scalars")
    result["plain_us"] = best_us(experiment, sample, repeats)
    expect_runs(len(sample) * repeats, "the undecorated function")
    if spec["miss_calls"]:
        rng = random.Random(spec["seed"])
        batches = [new_pairs(spec["miss_calls"], rng) for _ in range(repeats)]
        result["miss_us"] = min(per_call_us(func, batch) for batch in batches)
        expect_runs(spec["miss_calls"] * repeats, f"{tool}: calls with new parameters")
    return result


def fill(spec: dict[str, Any]) -> dict[str, float]:
    """Fill a peer's cache with the grid calls (in a fresh process: joblib remembers, per
    process, that it saved a function's code, and would not save it in a second cache)."""
    pairs = grid_pairs(spec["fill"])
    fill_tool = fill_joblib if spec["tool"] == "joblib" else fill_diskcache
    importlib.import_module(spec["tool"])
    start = time.perf_counter()
    fill_tool(Path(spec["location"]), pairs)
    return {"fill_s": time.perf_counter() - start}


def convert_store(spec: dict[str, Any]) -> dict[str, float]:
    """Convert the hand-written CSV store into another format (in a fresh process, as a
    user would: nothing of the CSV is in memory yet, and the process exits after)."""
    import stet

    start = time.perf_counter()
    count = stet.convert(spec["convert"], spec["location"])
    took = time.perf_counter() - start
    if count != spec["records"]:
        raise SystemExit(f"stet.convert copied {count} records, not {spec['records']}")
    return {"fill_s": took}


def run_worker(spec: dict[str, Any]) -> dict[str, float]:
    """Run :func:`measure`, :func:`fill` or :func:`convert_store` in a fresh interpreter;
    return what it found."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({spec['tool']}):\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ---------------------------------------------------------------- one configuration


@dataclass
class Row:
    """The measurements of one tool on one store."""

    tool: str
    size: int
    values: str
    fill_s: float
    found: dict[str, list[float]] = field(default_factory=dict)  # one value per process
    format: str = "csv"  # stet's store format (a key of FORMATS)
    store_bytes: int = 0  # the stet store's size at its nominal number of records

    def add(self, found: dict[str, float]) -> None:
        for name, value in found.items():
            self.found.setdefault(name, []).append(value)

    def best(self, name: str) -> float | None:
        values = self.found.get(name)
        return min(values) if values else None

    def median(self, name: str) -> float | None:
        values = self.found.get(name)
        return statistics.median(values) if values else None


def measure_store(
    tool: str,
    location: Path,
    pairs: Sequence[Pair],
    values: str,
    fill_s: float,
    s: Settings,
    restore: Callable[[], None] | None = None,
    sample_path: Path | None = None,
) -> Row:
    """Open the store ``s.opens`` times, each in a fresh process, and time its calls.

    Every open sees the store at its nominal size: a stet CSV store only grows by
    appends, so it is cut back to its length after each process has recorded; a stet
    store in another format is put back by ``restore`` (from a pristine copy) before each
    process, untimed; a peer's cache cannot be cut back, so only its last process records.
    """
    stet_tool = tool == "stet"
    truncate = stet_tool and restore is None
    hits = s.hit_calls if stet_tool else s.peer_hit_calls
    misses = s.miss_calls if stet_tool else s.peer_miss_calls
    sample_path = sample_path or location.parent / f"{location.name}.sample.json"
    sample_path.write_text(json.dumps(stored_sample(pairs, hits)))
    nominal = location.stat().st_size if truncate else 0
    row = Row(tool, len(pairs), values, fill_s, store_bytes=nominal)
    for i in range(s.opens):
        records = stet_tool or i == s.opens - 1
        if restore is not None:
            restore()
        spec = {
            "tool": tool,
            "location": str(location),
            "sample": str(sample_path),
            "repeats": s.repeats if stet_tool else max(3, s.repeats // 2),
            "numpy": stet_tool,
            "miss_calls": misses if records else 0,
            "seed": i,
        }
        found = run_worker(spec)
        if truncate:
            os.truncate(location, nominal)
        row.add(found)
    return row


def bench_stet(location: Path, pairs: Sequence[Pair], values: str, s: Settings) -> Row:
    """Write the CSV store by hand, then measure it; it is left at its nominal size."""
    start = time.perf_counter()
    write_stet_store(location, pairs)
    return measure_store("stet", location, pairs, values, time.perf_counter() - start, s)


def bench_format(
    name: str, source: Path, pairs: Sequence[Pair], values: str, work: Path, s: Settings
) -> Row:
    """Convert the CSV store ``source`` into the format ``name``, in a directory of its
    own with a pristine copy beside it, and measure it."""
    key = f"{name}-{values}-{len(pairs)}"
    home, pristine = work / key, work / f"{key}.pristine"
    home.mkdir()
    location = home / f"stet{FORMATS[name]}"
    spec = {"convert": str(source), "location": str(location), "records": len(pairs)}
    filled = run_worker({"tool": f"stet ({name})", **spec})
    shutil.copytree(home, pristine)  # the converting process has exited: nothing pending
    size = store_bytes(pristine)
    restore = restorer(home, pristine)
    sample = work / f"{key}.sample.json"
    row = measure_store("stet", location, pairs, values, filled["fill_s"], s, restore, sample)
    row.format, row.store_bytes = name, size
    for directory in (home, pristine):
        shutil.rmtree(directory)  # a 10^6-record store of each format would add up
    return row


def bench_peer(tool: str, size: int, work: Path, s: Settings) -> Row:
    location = work / f"{tool}-{size}"
    filled = run_worker({"tool": tool, "fill": size, "location": str(location)})
    return measure_store(tool, location, grid_pairs(size), "grid", filled["fill_s"], s)


# ----------------------------------------------------------------------- import time


def import_env(work: Path, bytecode: bool) -> dict[str, str]:
    """The environment for import timing: bytecode cached in ``work``, or never written."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    else:  # a copy of stet with no bytecode, none written: stet compiles on every import
        copy = work / "stet-without-bytecode"
        if not copy.exists():
            spec = importlib.util.find_spec("stet")
            assert spec is not None and spec.submodule_search_locations
            shutil.copytree(
                spec.submodule_search_locations[0],
                copy / "stet",
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        env["PYTHONPATH"] = str(copy)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def process_ms(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return (time.perf_counter() - start) * 1000


def bench_import(work: Path, s: Settings) -> dict[str, Any]:
    """``python -c "import stet"`` and ``python -c "pass"``, interleaved, many times."""
    found: dict[str, Any] = {}
    for bytecode in (True, False):
        env = import_env(work, bytecode)
        for code in ("import stet", "pass"):
            process_ms(code, env)  # fills the bytecode cache
        times: dict[str, list[float]] = {"import stet": [], "pass": []}
        for _ in range(s.imports):
            for code, runs in times.items():
                runs.append(process_ms(code, env))
        found["cached" if bytecode else "uncached"] = times
    probe = (
        "import json, sys, stet; print(json.dumps(sorted({'numpy', 'pandas'} & set(sys.modules))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    found["heavy_modules"] = json.loads(loaded.stdout)
    return found


# -------------------------------------------------------------------------- reports


def us(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value < 10 else f"{value:.0f}"


def per_record(row: Row, name: str) -> str:
    return f"{(row.median(name) or 0.0) / row.size:.0f}"


def opens(row: Row) -> str:
    return f"{row.median('open_s'):.3f} [{row.best('open_s'):.3f}]"


def stet_table(rows: Sequence[Row]) -> str:
    header = [
        "records",
        "values",
        "open (s), median [min]",
        "memory (B/record)",
        "peak during open (B/record)",
        "skip (us)",
        "skip, NumPy args (us)",
        "record (us)",
        "plain call (us)",
    ]
    lines = [
        [
            f"{r.size:,}",
            r.values,
            opens(r),
            per_record(r, "rss_growth"),
            per_record(r, "peak_growth"),
            us(r.best("hit_us")),
            us(r.best("hit_numpy_us")),
            us(r.best("miss_us")),
            us(r.best("plain_us")),
        ]
        for r in rows
    ]
    return table(header, lines)


def ratio(mine: float | None, theirs: float | None) -> str:
    if mine is None or theirs is None or not theirs:
        return "n/a"
    value = mine / theirs
    return f"{value:,.0f}" if value >= 100 else f"{value:.2g}"


def ratios(mine: Row | None, theirs: Row) -> list[str]:
    """stet's open, skip and record time over the peer's, on a store of the same size."""
    if mine is None:
        return ["n/a"] * 3
    return [
        ratio(mine.median("open_s"), theirs.median("open_s")),
        ratio(mine.best("hit_us"), theirs.best("hit_us")),
        ratio(mine.best("miss_us"), theirs.best("miss_us")),
    ]


def peer_table(peers: Sequence[Row], stet_rows: Sequence[Row]) -> str:
    header = [
        "tool",
        "records",
        "fill (s)",
        "open (s), median [min]",
        "RSS growth at open (MB)",
        "hit (us)",
        "miss (us)",
        "stet/tool open",
        "stet/tool skip",
        "stet/tool record",
    ]
    grid = {r.size: r for r in stet_rows if r.values == "grid"}
    lines = []
    for r in peers:
        lines.append(
            [
                r.tool,
                f"{r.size:,}",
                f"{r.fill_s:.1f}",
                opens(r),
                f"{(r.median('rss_growth') or 0.0) / 1e6:.1f}",
                us(r.best("hit_us")),
                us(r.best("miss_us")),
                *ratios(grid.get(r.size), r),
            ]
        )
    return table(header, lines)


def import_table(found: dict[str, Any]) -> str:
    lines = []
    for state, label in (("cached", "bytecode cached"), ("uncached", "no bytecode cache")):
        times = found[state]
        stet_ms, pass_ms = times["import stet"], times["pass"]
        difference = statistics.median(stet_ms) - statistics.median(pass_ms)
        for code, runs in (("import stet", stet_ms), ("pass", pass_ms)):
            cells = [f'`python -c "{code}"`', label]
            cells += [f"{statistics.median(runs):.1f}", f"{min(runs):.1f}"]
            lines.append([*cells, f"{difference:.1f}" if code == "pass" else ""])
    return table(["command", "state", "median (ms)", "min (ms)", "difference (ms)"], lines)


def worst(rows: Sequence[Row], name: str, scale: float = 1.0) -> tuple[float, float]:
    """The best and the median of a measurement, on the worse of the rows (distributions)."""
    best = max((r.best(name) or math.inf) / scale for r in rows)
    return best, max((r.median(name) or math.inf) / scale for r in rows)


def target_cells(target: float, best: float, median: float) -> list[str]:
    """Target, best, median and whether it is met: "yes" needs both within the target."""
    met = "yes" if median <= target else "best only" if best <= target else "**no**"
    return [f"{target:g}", f"{best:.3g}", f"{median:.3g}", met]


def target_table(stet_rows: Sequence[Row], imports: dict[str, Any]) -> str:
    """The targets at the largest stet size, on the worse of the two distributions.

    Each is shown as the best (fastest process or loop; noise only ever adds time) and
    the median over the fresh processes; "yes" needs both within the target.
    """
    largest = max(r.size for r in stet_rows)
    rows = [r for r in stet_rows if r.size == largest]
    import_ms = imports["cached"]["import stet"]
    measured = {
        "skip (us)": worst(rows, "hit_us"),
        "record (us)": worst(rows, "miss_us"),
        "open (s)": worst(rows, "open_s"),
        "memory (B/record)": worst(rows, "rss_growth", largest),
        'python -c "import stet" (ms)': (min(import_ms), statistics.median(import_ms)),
    }
    lines = [[name, *target_cells(TARGETS[name], *found)] for name, found in measured.items()]
    header = [f"at {largest:,} records", "target", "best", "median", "met"]
    return table(header, lines)


def formats_table(rows: Sequence[Row]) -> str:
    """Every format at every size, grouped by size and distribution to compare formats."""
    order = list(FORMATS)
    header = [
        "format",
        "records",
        "values",
        "fill (s)",
        "open (s), median [min]",
        "skip (us)",
        "record (us)",
        "size (B/record)",
    ]
    lines = [
        [
            r.format,
            f"{r.size:,}",
            r.values,
            f"{r.fill_s:.2f}",
            opens(r),
            us(r.best("hit_us")),
            us(r.best("miss_us")),
            f"{r.store_bytes / r.size:.0f}",
        ]
        for r in sorted(rows, key=lambda r: (r.size, r.values, order.index(r.format)))
    ]
    return table(header, lines)


def format_target_table(rows: Sequence[Row]) -> str:
    """Each format's targets at the largest size of the formats table, as above."""
    largest = max(r.size for r in rows)
    lines = []
    for name, targets in FORMAT_TARGETS.items():
        at_largest = [r for r in rows if r.format == name and r.size == largest]
        if at_largest:
            for what, target in targets.items():
                found = worst(at_largest, MEASURED[what])
                lines.append([name, what, *target_cells(target, *found)])
    header = ["format", f"at {largest:,} records", "target", "best", "median", "met"]
    return table(header, lines)


def versions() -> str:
    import diskcache
    import joblib
    import numpy

    import stet

    where = Path(stet.__file__).parent
    return (
        f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}, "
        f"stet {stet.__version__} ({where}), joblib {joblib.__version__}, "
        f"diskcache {diskcache.__version__}, numpy {numpy.__version__}"
    )


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    stet: list[Row]
    peers: list[Row]
    formats: list[Row]  # the formats table's rows; its CSV rows are also in ``stet``
    imports: dict[str, Any]
    seconds: float
    load_at_start: str
    load_at_end: str


FORMATS_NOTE = (
    "fill: the CSV store is written by hand (as above); every other format is "
    "`stet.convert` of that CSV, timed alone in a fresh process. open, skip and record "
    "as above; open includes importing what the format needs (pyarrow for .parquet). "
    "size: the store's bytes (a .parquet directory's files, a .sqlite database and its "
    "-wal; not the .owner file) per record."
)


def report(results: Results) -> str:
    heavy = ", ".join(results.imports["heavy_modules"]) or "neither numpy nor pandas"
    context = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {versions()}; load average "
        f"(1, 5, 15 min) {results.load_at_start} at the start, {results.load_at_end} at the "
        f"end; the run took {results.seconds / 60:.1f} min."
    )
    return "\n\n".join(
        [
            context,
            "### stet, messages off\n\n" + stet_table(results.stet),
            "### The same grid calls through joblib.Memory and diskcache memoize\n\n"
            + peer_table(results.peers, results.stet),
            "### Import time\n\n"
            + import_table(results.imports)
            + f"\n\n`import stet` loads: {heavy}.",
            "### Targets\n\n" + target_table(results.stet, results.imports),
            "### Formats\n\n" + formats_table(results.formats) + "\n\n" + FORMATS_NOTE,
            "### Targets by format\n\n" + format_target_table(results.formats),
        ]
    )


# ----------------------------------------------------------------------------- main


def progress(text: str) -> None:
    print(f"[overhead] {text}", file=sys.stderr, flush=True)


def check_formats(names: Sequence[str]) -> None:
    """Stop at once when a format asked for is not there, rather than midway."""
    from stet.formats import FORMATS as MODULES

    for name in names:
        module = f"stet.formats.{MODULES[FORMATS[name]][0]}"
        if importlib.util.find_spec(module) is None:
            raise SystemExit(f"{module} is missing: leave {name} out with --formats")


def run(s: Settings, work: Path, formats: Sequence[str] = tuple(FORMATS)) -> Results:
    load_at_start, start = load_average(), time.perf_counter()
    check_formats(formats)
    progress("checking the hand-written store against stet's own")
    (work / "check").mkdir()
    check_writer_matches_stet(work / "check")
    stet_rows, format_rows = [], []
    for size in sorted({*s.stet_sizes, *s.format_sizes}):
        in_formats = size in s.format_sizes
        for values in ("grid", "random"):
            pairs = grid_pairs(size) if values == "grid" else random_pairs(size)
            location = work / f"stet-{values}-{size}.csv"
            if size in s.stet_sizes or (in_formats and "csv" in formats):
                progress(f"stet, {size:,} records, {values} values")
                row = bench_stet(location, pairs, values, s)
                stet_rows += [row] if size in s.stet_sizes else []
                format_rows += [row] if in_formats and "csv" in formats else []
            else:
                write_stet_store(location, pairs)  # only the source of the conversions
            for name in formats if in_formats else ():
                if name != "csv":
                    progress(f"stet {name}, {size:,} records, {values} values")
                    format_rows.append(bench_format(name, location, pairs, values, work, s))
            location.unlink()  # a 10^6-record CSV store is ~70 MB
    peers = []
    for tool, sizes in (("joblib", s.joblib_sizes), ("diskcache", s.diskcache_sizes)):
        for size in sizes:
            progress(f"{tool}, {size:,} records")
            peers.append(bench_peer(tool, size, work, s))
    progress("import time")
    imports = bench_import(work, s)
    took = time.perf_counter() - start
    return Results(s, stet_rows, peers, format_rows, imports, took, load_at_start, load_average())


def main(argv: Sequence[str] | None = None) -> None:
    formats_help = "the formats of the formats table, comma-separated"
    options = command_line(__doc__, "small stores only (< 1 min)", list(FORMATS), formats_help)
    args = options.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        work_of = fill if "fill" in spec else convert_store if "convert" in spec else measure
        print(json.dumps(work_of(spec)))
        return

    def measure_all(work: Path) -> Results:
        return run(QUICK if args.quick else FULL, work, args.formats)

    measure_and_report(args, "stet-overhead-", measure_all, report)


if __name__ == "__main__":
    main()
