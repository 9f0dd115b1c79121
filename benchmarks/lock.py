"""Why stet locks with flock itself: the cost of one lock cycle, stet's and filelock's.

Run: ``python benchmarks/lock.py`` (needs ``pip install ".[bench]"`` for filelock).
Prints a markdown table of microseconds per acquire-and-release, best of 5 rounds.
``--quick`` and ``--json`` are accepted as every script's; the run is short anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from _harness import Clock, command_line, context, measure_and_report, section, table
from filelock import FileLock

from stet._lock import StoreLock  # internal: the lock stet takes around every record

CYCLES = 5_000


def per_cycle(lock: AbstractContextManager[object]) -> float:
    """Microseconds per acquire and release, best of five rounds."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(CYCLES):
            with lock:
                pass
        best = min(best, (time.perf_counter() - start) / CYCLES * 1e6)
    return best


@dataclass
class Results:
    """Microseconds per cycle, by lock."""

    locks: dict[str, float]
    clock: Clock


def run(work: Path) -> Results:
    clock = Clock()
    locks: dict[str, Callable[[str], AbstractContextManager[object]]] = {
        "stet StoreLock (flock, descriptor kept open)": StoreLock,
        f"filelock {version('filelock')} FileLock": FileLock,
    }
    found = {
        name: per_cycle(make(str(work / f"{n}.lock")))
        for n, (name, make) in enumerate(locks.items())
    }
    return Results(found, clock.stop())


def report(results: Results) -> str:
    lines = [[name, f"{us:.1f}"] for name, us in results.locks.items()]
    return "\n\n".join(
        [
            context(results.clock, ("filelock",)),
            section("One lock cycle", table(["lock", "us per acquire + release"], lines)),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = command_line(__doc__, "the same run (it is short)", (), "").parse_args(argv)
    measure_and_report(args, "stet-lock-", run, report)


if __name__ == "__main__":
    main()
