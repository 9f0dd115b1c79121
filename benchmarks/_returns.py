"""What ``results.py`` and ``loading.py`` share: the function that returns a value, its
grid, its settings and the checks of what comes back.

``experiment(alpha, beta)``, two floats, counts its runs and returns a float
(``alpha * beta - alpha / 3``); ``experiment_dict`` returns a dict of 3 floats. The
parameters are the points of a grid, the product of two evenly spaced axes in [0, 1].
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Pair = tuple[float, float]
FLOAT, DICT = "float", "dict"


@dataclass(frozen=True)
class Settings:
    """How much to measure (both scripts take the same, each uses its part)."""

    calls: int  # per loop of the per-call table
    records: int  # in the stores of the restart and loading tables
    skip_calls: int  # per skip loop after a restart
    repeats: int


FULL = Settings(calls=10**4, records=10**5, skip_calls=10**4, repeats=5)
QUICK = Settings(calls=10**3, records=10**4, skip_calls=10**3, repeats=1)
QUICK_HELP = "10^3 calls, stores of 10^4 records, one repeat"

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


def take_runs() -> int:
    """The body's runs since the last look, and start counting again."""
    global _body_runs
    runs, _body_runs = _body_runs, 0
    return runs


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


def check_frame(frame: Any, pairs: Sequence[Pair], dates: bool) -> list[str]:
    """What is wrong with a frame of the store, if anything."""
    import pandas

    columns = ["alpha", "beta", "result", "_stet_timestamp"]
    if list(frame.columns) != columns:
        return [f"columns {list(frame.columns)}"]
    if len(frame) != len(pairs):
        return [f"{len(frame)} rows, not {len(pairs)}"]
    problems = [f"{c} is {frame[c].dtype}" for c in columns[:3] if frame[c].dtype != "float64"]
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
        cells = (record.get("alpha"), record.get("beta"), record.get("result"))
        good = cells == (a, b, value_of(a, b))
        wrong += not (good and isinstance(stamp, datetime) and stamp.tzinfo is not None)
    return [f"{wrong} records wrong"] if wrong else []


def us(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 100 else f"{value:,.0f}"


def seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def paired(mine: Sequence[dict[str, Any]], theirs: Sequence[dict[str, Any]], name: str) -> float:
    """The median of the differences, repeat by repeat."""
    import statistics

    pairs = zip(mine, theirs, strict=True)
    return statistics.median(float(a[name]) - float(b[name]) for a, b in pairs)


def checks(samples: Sequence[dict[str, Any]]) -> str:
    return "; ".join(sorted({s["check"] for s in samples}))
