"""What ``sweep.py`` and ``resume.py`` share: the trivial run, its grid, its settings.

The run is ``trial(alpha, seed)`` decorated with ``@stet.once(store=..., verbose=False)``
(claims on, the default); its body returns at once (it only counts its calls and notes
the time of its first). The grid is ``{"alpha": np.linspace(0, 1, n), "seed": range(m)}``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import check_written_store, write_csv_store

FUNCTION = "trial"  # the qualname stet records as the store's owner
STORE_ENV = "STET_BENCH_SWEEP_STORE"  # a pool worker that imports this module anew decorates
FIRST_ENV = "STET_BENCH_SWEEP_FIRST"  # where each process notes its first run's start
POOL_WORKERS = 2


@dataclass(frozen=True)
class Settings:
    """How much to measure (both scripts take the same, each uses its part)."""

    points: int  # runs in the sweep table's grid
    resume_points: tuple[int, ...]
    repeats: int


FULL = Settings(points=10**5, resume_points=(10**5, 10**6), repeats=3)
QUICK = Settings(points=10**4, resume_points=(10**4, 10**5), repeats=1)
QUICK_HELP = "grids of 10^4 runs, resumes of 10^4 and 10^5 points, one repeat"

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


def take_calls() -> int:
    """The body's calls since the last look, and start counting again."""
    global _calls
    calls, _calls = _calls, 0
    return calls


def bind_trial(store: str) -> Callable[..., Any]:
    """Decorate the run with ``store`` and make it this module's ``trial``, so that a pool
    pickles it by reference and its workers find the same function."""
    import stet

    os.environ[STORE_ENV] = store  # a worker that imports this module anew (spawn)
    wrapped = stet.once(store=store, verbose=False)(_body)
    globals()["trial"] = wrapped
    return wrapped


if os.environ.get(STORE_ENV):  # a pool worker started by spawn
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


def quiet_sweep(func: Callable[..., Any], grid: Any, **options: Any) -> Any:
    """``stet.sweep`` with its ``[stet]`` lines kept off standard output (the JSON line)."""
    import stet

    with contextlib.redirect_stdout(sys.stderr):
        return stet.sweep(func, grid, **options)


def worker_env() -> dict[str, str]:
    """The environment of a measuring process: none of this module's variables."""
    return {k: v for k, v in os.environ.items() if k not in (STORE_ENV, FIRST_ENV)}


def write_stet_store(path: Path, points: int, records: int) -> None:
    """Write the first ``records`` runs of the grid of ``points`` in stet's CSV layout."""
    grid = make_grid(points)
    alphas, seeds = grid["alpha"].tolist(), list(grid["seed"])
    cells = [f"{a!r},{s}" for a in alphas for s in seeds][:records]
    write_csv_store(path, "alpha,seed", cells, FUNCTION)


def check_writer(directory: Path, record: Callable[[Path], None]) -> None:
    """``record`` a grid of 10^4 runs into a store through stet (in a fresh process), and
    check that the hand-written store holds the same cells."""
    recorded, written = directory / "recorded.csv", directory / "written.csv"
    record(recorded)
    write_stet_store(written, 10**4, 10**4)
    check_written_store(recorded, written, FUNCTION)


def keep_bytecode(work: Path) -> None:
    """The measuring processes keep bytecode (in the work directory), as an installed
    package has it: the first process compiles, the others import the cache."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
