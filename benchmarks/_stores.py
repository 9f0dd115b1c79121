"""What ``overhead.py`` and ``formats.py`` share: stores of ``experiment(alpha, beta)``,
made at a size, and the fresh process that opens one and times its calls.

Run as ``python benchmarks/_stores.py --worker SPEC`` by those scripts only.

Large stet stores are written directly in stet's CSV layout (header, one line per
record, the ``.owner`` file); a self-check first records calls through stet and verifies
the hand-written file holds the same cells. Every timed skip and hit is checked not to
have run the function body. Nothing is subtracted: every per-call time is the raw time
of one call.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import (
    check_written_store,
    convert_store,
    peak_rss_bytes,
    peer,
    rss_bytes,
    run_worker,
    worker_main,
    write_csv_store,
)

FUNCTION = "experiment"  # the qualname stet records as the store's owner
Pair = tuple[float, float]
Call = Callable[[Any, Any], Any]
_body_runs = 0


def experiment(alpha: float, beta: float) -> None:
    """The benchmarked function: two float parameters, a body that only counts its runs."""
    global _body_runs
    _body_runs += 1


@dataclass(frozen=True)
class Settings:
    """How much to measure (both scripts take the same, each uses its part)."""

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


def grid_pairs(size: int) -> list[Pair]:
    """Every (alpha, beta) of the most nearly square product of two ``np.linspace(0, 1,
    n)``: 1000 x 1000 for 10^6."""
    import numpy as np

    rows = max(n for n in range(1, int(size**0.5) + 1) if size % n == 0)
    alpha, beta = np.meshgrid(
        np.linspace(0, 1, rows), np.linspace(0, 1, size // rows), indexing="ij"
    )
    return list(zip(alpha.ravel().tolist(), beta.ravel().tolist(), strict=True))


def random_pairs(size: int, seed: int = 1) -> list[Pair]:
    """Unique random floats in [0, 1): every cell a distinct 17-digit text."""
    import numpy as np

    return [(a, b) for a, b in np.random.default_rng(seed).random((size, 2)).tolist()]


def pairs_of(values: str, size: int) -> list[Pair]:
    return grid_pairs(size) if values == "grid" else random_pairs(size)


def write_stet_store(path: Path, pairs: Sequence[Pair]) -> None:
    write_csv_store(path, "alpha,beta", (f"{a!r},{b!r}" for a, b in pairs), FUNCTION)


def check_writer_matches_stet(directory: Path) -> None:
    """Record calls through stet and check the hand-written store holds the same cells."""
    import stet

    pairs = grid_pairs(2_000) + random_pairs(1_000, seed=3)
    recorded = directory / "recorded.csv"
    wrapped = stet.once(store=recorded, verbose=False)(experiment)
    for a, b in pairs:
        wrapped(a, b)
    write_stet_store(directory / "written.csv", pairs)
    check_written_store(recorded, directory / "written.csv", FUNCTION)


def wrap(tool: str, location: str) -> Call:
    """``experiment`` behind the tool, as a user would write it."""
    if tool != "stet":
        return peer(tool, location, experiment)
    import stet

    return stet.once(store=location, verbose=False)(experiment)


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


def measure(spec: dict[str, Any]) -> dict[str, Any]:
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
        rng, count = random.Random(spec["seed"]), spec["miss_calls"]
        # new parameters: alpha in [2, 3), where no stored value lies
        batches = [
            [(2.0 + rng.random(), rng.random()) for _ in range(count)] for _ in range(repeats)
        ]
        result["miss_us"] = min(per_call_us(func, batch) for batch in batches)
        expect_runs(spec["miss_calls"] * repeats, f"{tool}: calls with new parameters")
    return result


def fill_peer(spec: dict[str, Any]) -> dict[str, Any]:
    """Fill a peer's cache with the grid calls (in a fresh process: joblib remembers, per
    process, that it saved a function's code, and would not save it in a second cache):
    joblib by calling the cached function, diskcache with what ``memoize`` stores."""
    pairs, location = grid_pairs(spec["fill"]), Path(spec["location"])
    importlib.import_module(spec["tool"])
    start = time.perf_counter()
    if spec["tool"] == "joblib":
        cached = wrap("joblib", str(location))
        for a, b in pairs:
            cached(a, b)
    else:
        import diskcache  # type: ignore[import-untyped]

        with diskcache.Cache(location) as cache:
            key = cache.memoize()(experiment).__cache_key__
            for first in range(0, len(pairs), 10_000):
                with cache.transact():
                    for a, b in pairs[first : first + 10_000]:
                        cache.set(key(a, b), None)
    return {"fill_s": time.perf_counter() - start}


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

    def best(self, name: str) -> float | None:
        values = self.found.get(name)
        return min(values) if values else None

    def median(self, name: str) -> float | None:
        import statistics

        values = self.found.get(name)
        return statistics.median(values) if values else None


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    return run_worker(__file__, spec)


def measure_store(
    tool: str, location: Path, pairs: Sequence[Pair], values: str, fill_s: float,
    s: Settings, restore: Callable[[], None] | None = None, sample_path: Path | None = None,
) -> Row:  # fmt: skip
    """Open the store ``s.opens`` times, each in a fresh process, and time its calls.

    Every open sees the store at its nominal size: a stet CSV store only grows by
    appends, so it is cut back to its length after each process has recorded; a stet
    store in another format is put back by ``restore`` (from a pristine copy) before each
    process, untimed; a peer's cache cannot be cut back, so only its last process records.
    """
    stet_tool = tool == "stet"
    truncate = stet_tool and restore is None
    sample_path = sample_path or location.parent / f"{location.name}.sample.json"
    rng = random.Random(2)  # stored pairs in random order (repeating when fewer)
    hits = s.hit_calls if stet_tool else s.peer_hit_calls
    sample_path.write_text(json.dumps([pairs[rng.randrange(len(pairs))] for _ in range(hits)]))
    nominal = location.stat().st_size if truncate else 0
    row = Row(tool, len(pairs), values, fill_s, store_bytes=nominal)
    for i in range(s.opens):
        if restore is not None:
            restore()
        records = stet_tool or i == s.opens - 1
        misses = s.miss_calls if stet_tool else s.peer_miss_calls
        spec = {"worker": "measure", "tool": tool, "location": str(location)}
        spec |= {"sample": str(sample_path), "numpy": stet_tool, "seed": i}
        spec["repeats"] = s.repeats if stet_tool else max(3, s.repeats // 2)
        spec["miss_calls"] = misses if records else 0
        found = worker(spec)
        if truncate:
            os.truncate(location, nominal)
        for name, value in found.items():
            if name != "started":
                row.found.setdefault(name, []).append(value)
    sample_path.unlink()
    return row


def bench_stet(location: Path, pairs: Sequence[Pair], values: str, s: Settings) -> Row:
    """Write the CSV store by hand, then measure it; it is left at its nominal size."""
    start = time.perf_counter()
    write_stet_store(location, pairs)
    return measure_store("stet", location, pairs, values, time.perf_counter() - start, s)


def us(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value < 10 else f"{value:.0f}"


def opens(row: Row) -> str:
    return f"{row.median('open_s'):.3f} [{row.best('open_s'):.3f}]"


def worst(rows: Sequence[Row], name: str, scale: float = 1.0) -> tuple[float, float]:
    """The best and the median of a measurement, on the worse of the rows (distributions)."""
    best = max((r.best(name) or math.inf) / scale for r in rows)
    return best, max((r.median(name) or math.inf) / scale for r in rows)


def target_cells(target: float, best: float, median: float) -> list[str]:
    """Target, best, median and whether it is met: "yes" needs both within the target."""
    met = "yes" if median <= target else "best only" if best <= target else "**no**"
    return [f"{target:g}", f"{best:.3g}", f"{median:.3g}", met]


WORKERS = {"measure": measure, "fill": fill_peer, "convert": convert_store}

if __name__ == "__main__":
    options = argparse.ArgumentParser(description="a measuring process of overhead.py")
    options.add_argument("--worker", required=True)
    worker_main(options.parse_args(), WORKERS)
