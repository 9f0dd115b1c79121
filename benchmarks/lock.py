"""Why stet locks with flock itself: the cost of one lock cycle, stet's and filelock's.

Run: ``python benchmarks/lock.py`` (needs ``pip install ".[bench]"`` for filelock).
Prints a markdown table of microseconds per acquire-and-release, best of 5 rounds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from importlib.metadata import version
from pathlib import Path

from filelock import FileLock

from stet._lock import StoreLock

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


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        locks: dict[str, Callable[[str], AbstractContextManager[object]]] = {
            "stet StoreLock (flock, descriptor kept open)": StoreLock,
            f"filelock {version('filelock')} FileLock": FileLock,
        }
        print("| lock | us per acquire + release |")
        print("| --- | ---: |")
        for name, make in locks.items():
            path = str(Path(directory) / f"{len(name)}.lock")
            print(f"| {name} | {per_cycle(make(path)):.1f} |")


if __name__ == "__main__":
    main()
