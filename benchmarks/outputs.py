"""What a run's own directory costs (``@stet.once(outputs="data")``), beside a hand-written
``np.save`` loop.

Run it from the repository root, with the ``bench`` extra installed::

    python benchmarks/outputs.py              # the full run: about 3 minutes on 2 cores
    python benchmarks/outputs.py --quick      # fewer runs, 1 and 10 MB arrays: under a minute
    python benchmarks/outputs.py --formats csv --repeats 5 --json outputs.json

Per run, trivial body (each row pair in a fresh process, on fresh stores; one warm-up
call each first): ``@stet.once`` without outputs, and ``@stet.once(outputs="data")``
whose body writes nothing, so its run directory holds only ``_stet_run.json``: the
staging directory made, the file written, the rename, the record. Both loops take turns
batch by batch (10 batches, the first to go alternating) on new parameters, with fsync
off (stet's default) and on (``fsync=True``: every file and directory of the run is
fsynced before the rename, the directory it lands in after). "Cost of outputs" is the
difference, repeat by repeat; the target is 100 us.

A NumPy array per run (float64, 1 MB and 100 MB; 1 and 10 MB with ``--quick``), CSV
store: (a) the loop a user writes by hand, ``np.save(f"data/{alpha}.npy", arr)`` and a
CSV line appended to a file of its own (with fsync on: both fsynced); (b) stet with
outputs, its body ``np.save(stet.output_dir() / "x.npy", arr)``; (c) stet with outputs
and ``results=True``, its body returning the array (stet writes ``result.npy`` and
checks that it reads back equal). Each run goes round (a), (b) and (c), the first to go
rotating; the table shows each one's median run. The target: (b) and (c) cost no more
than (a) plus the 100 us of an empty outputs directory.

Every row checks what it wrote: one record per run, each run's directory in place with
its ``_stet_run.json`` (and its array, of the right size), the hand-written files.
Tables to stdout, progress to stderr.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import (
    FORMATS,
    Clock,
    Sampled,
    chosen_settings,
    command_line,
    context,
    import_format,
    measure_and_report,
    progress,
    repeats_note,
    run_worker,
    section,
    table,
    worker_main,
)

TARGET_US = 100.0  # an empty outputs directory, per run, on the 2-core reference machine
BATCHES = 10
EMPTY_FORMATS = ("csv", "sqlite")  # what --formats takes and measures by default
QUICK_HELP = "fewer runs, 1 and 10 MB arrays, one repeat: under a minute"


@dataclass(frozen=True)
class Settings:
    runs: int  # trivial runs per row, fsync off
    fsync_runs: int  # trivial runs per row, fsync on
    sizes_mb: tuple[int, ...]  # the arrays
    array_runs: tuple[int, ...]  # runs per array size
    repeats: int


QUICK = Settings(runs=400, fsync_runs=60, sizes_mb=(1, 10), array_runs=(20, 4), repeats=1)
FULL = Settings(runs=3000, fsync_runs=300, sizes_mb=(1, 100), array_runs=(60, 6), repeats=3)


# -- the measuring processes


def interleaved(funcs: Sequence[Callable[[float], Any]], alphas: Sequence[float]) -> list[float]:
    """Each function over ``alphas`` in turns of one batch each: microseconds per run."""
    size = -(-len(alphas) // BATCHES)
    spent = [0.0] * len(funcs)
    for number, first in enumerate(range(0, len(alphas), size)):
        batch = alphas[first : first + size]
        for turn in range(len(funcs)):
            i = (number + turn) % len(funcs)
            func = funcs[i]
            start = time.perf_counter_ns()
            for alpha in batch:
                func(alpha)
            spent[i] += time.perf_counter_ns() - start
    return [ns / len(alphas) / 1000 for ns in spent]


def run_directories(data: Path, function: str) -> list[Path]:
    return sorted((data / function).iterdir()) if (data / function).exists() else []


def measure_empty(spec: dict[str, Any]) -> dict[str, Any]:
    """Trivial runs with and without an outputs directory, in this fresh process."""
    import stet

    import_format(spec["format"])
    home = Path(spec["dir"])
    extension, fsync = FORMATS[spec["format"]], spec["fsync"]
    data = home / "data"

    def body(alpha: float) -> None:
        return None

    bare = stet.once(store=home / f"bare{extension}", verbose=False, fsync=fsync, name="bare")
    kept = stet.once(
        store=home / f"kept{extension}", outputs=data, verbose=False, fsync=fsync, name="kept"
    )
    floor = home / "by-hand"
    (floor / "staging").mkdir(parents=True)
    (floor / "final").mkdir()

    def by_hand(alpha: float) -> None:
        """What the file system does for a run's directory, written by hand: the floor."""
        staging = floor / "staging" / f"alpha={alpha}~host~1~abcd"
        os.mkdir(staging)
        with open(staging / "_stet_run.json", "w", encoding="utf-8") as out:
            out.write(RUN_FILE)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        if fsync:
            _fsync_directory(staging)
        os.rename(staging, floor / "final" / f"alpha={alpha}")
        if fsync:
            _fsync_directory(floor / "final")

    funcs: list[Callable[[float], Any]] = [bare(body), kept(body), by_hand]
    for func in funcs:
        func(-1.0)  # creates the store (and the outputs directory): no run pays for it
    alphas = [i / 10_000 for i in range(spec["runs"])]
    bare_us, kept_us, floor_us = interleaved(funcs, alphas)
    problems = []
    for name in ("bare", "kept"):
        count = len(stet.records(home / f"{name}{extension}"))
        if count != len(alphas) + 1:
            problems.append(f"{name}: {count} records, not {len(alphas) + 1}")
    runs = run_directories(data, "kept")
    if len(runs) != len(alphas) + 1 or not all((r / "_stet_run.json").is_file() for r in runs):
        problems.append(f"{len(runs)} run directories, not {len(alphas) + 1} complete ones")
    found = {"bare_us": bare_us, "kept_us": kept_us, "floor_us": floor_us}
    return {**found, "check": "; ".join(problems) or "ok"}


RUN_FILE = '{\n "function": "kept",\n "parameters": {"alpha": 0.5},\n "pid": 1\n}\n' * 2


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def measure_array(spec: dict[str, Any]) -> dict[str, Any]:
    """One array size: the hand-written loop and stet with outputs, run by run in turns."""
    import numpy as np

    import stet

    home, fsync = Path(spec["dir"]), spec["fsync"]
    array = np.random.default_rng(0).random(spec["mb"] * 1_000_000 // 8)
    by_hand, index = home / "by-hand", home / "by-hand" / "runs.csv"
    by_hand.mkdir()

    def hand(alpha: float) -> None:
        name = f"{alpha}.npy"
        with open(by_hand / name, "wb") as out:
            np.save(out, array)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        with open(index, "a", encoding="utf-8") as out:
            out.write(f"{alpha},{name}\n")
            if fsync:
                out.flush()
                os.fsync(out.fileno())

    @stet.once(
        store=home / "runs.csv", outputs=home / "data", verbose=False, fsync=fsync, name="simulate"
    )
    def simulate(alpha: float) -> None:
        np.save(stet.output_dir() / "x.npy", array)

    @stet.once(
        store=home / "returned.csv",
        outputs=home / "data",
        verbose=False,
        fsync=fsync,
        name="returned",
        results=True,
    )
    def returned(alpha: float) -> Any:
        return array

    funcs: list[Callable[[float], Any]] = [hand, simulate, returned]
    for func in funcs:
        func(-1.0)
    times: list[list[float]] = [[] for _ in funcs]
    alphas = [i / 1000 for i in range(spec["runs"])]
    for number, alpha in enumerate(alphas):
        for turn in range(len(funcs)):
            i = (number + turn) % len(funcs)
            start = time.perf_counter_ns()
            funcs[i](alpha)
            times[i].append((time.perf_counter_ns() - start) / 1000)
    size = (by_hand / "-1.0.npy").stat().st_size
    problems = []
    if len(index.read_text().splitlines()) != len(alphas) + 1:
        problems.append("the hand-written CSV lacks lines")
    if len(stet.records(home / "runs.csv")) != len(alphas) + 1:
        problems.append("stet lacks records")
    runs = run_directories(home / "data", "simulate")
    whole = [r for r in runs if (r / "_stet_run.json").is_file() and _size(r / "x.npy") == size]
    if len(whole) != len(alphas) + 1:
        problems.append(f"{len(whole)} whole run directories, not {len(alphas) + 1}")
    kept = run_directories(home / "data", "returned")
    whole = [r for r in kept if _size(r / "result.npy") == size]
    if len(whole) != len(alphas) + 1 or len(stet.records(home / "returned.csv")) != len(whole):
        problems.append(f"results=True: {len(whole)} whole result files, not {len(alphas) + 1}")
    hand_us, stet_us, returned_us = (statistics.median(t) for t in times)
    found = {"hand_us": hand_us, "stet_us": stet_us, "returned_us": returned_us}
    return {**found, "check": "; ".join(problems) or "ok"}


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else -1


# -- the rows, and running them


@dataclass
class EmptyRow(Sampled):
    format: str
    fsync: bool


@dataclass
class ArrayRow(Sampled):
    mb: int
    runs: int
    fsync: bool


@dataclass
class Results:
    settings: Settings
    formats: list[str]
    empty: list[EmptyRow]
    arrays: list[ArrayRow]
    clock: Clock = field(default_factory=Clock)


def measure_in(work: Path, spec: dict[str, Any]) -> dict[str, Any]:
    home = work / "row"
    home.mkdir()
    try:
        return run_worker(__file__, {**spec, "dir": str(home)})
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(s: Settings, work: Path, formats: Sequence[str]) -> Results:
    clock = Clock()
    empty = [EmptyRow(f, fsync) for f in formats for fsync in (False, True)]
    arrays = [
        ArrayRow(mb, runs, fsync)
        for mb, runs in zip(s.sizes_mb, s.array_runs, strict=True)
        for fsync in (False, True)
    ]
    for repeat in range(s.repeats):  # repeats outermost: noise spreads over every row
        step = f"repeat {repeat + 1}/{s.repeats}"
        for row in empty:
            progress("outputs", f"{step}: empty outputs, {row.format}, fsync {row.fsync}")
            runs = s.fsync_runs if row.fsync else s.runs
            spec = {"worker": "empty", "format": row.format, "fsync": row.fsync, "runs": runs}
            row.samples.append(measure_in(work, spec))
        for array in arrays:
            progress("outputs", f"{step}: a {array.mb} MB array, fsync {array.fsync}")
            spec = {"worker": "array", "mb": array.mb, "runs": array.runs, "fsync": array.fsync}
            array.samples.append(measure_in(work, spec))
    return Results(s, list(formats), empty, arrays, clock.stop())


# -- the report


def us(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def paired(row: Sampled, more: str, less: str) -> float:
    """The median, over repeats, of ``more - less`` measured in one process."""
    return statistics.median(float(s[more]) - float(s[less]) for s in row.samples)


def checks(row: Sampled) -> str:
    return "; ".join(sorted({s["check"] for s in row.samples if s["check"] != "ok"})) or "ok"


def within(cost: float, target: float) -> str:
    return "yes" if cost <= target else "no"


def empty_table(rows: Sequence[EmptyRow]) -> str:
    header = ["store", "fsync", "`@stet.once` (us per run)"]
    header += ['`@stet.once(outputs="data")` (us per run)', "cost of outputs (us)"]
    header += ["by hand: mkdir, a file, rename (us)", "cost beyond those (us)"]
    header += ["within 100 us", "check"]
    lines = []
    for row in rows:
        cost = paired(row, "kept_us", "bare_us")
        beyond = statistics.median(
            float(s["kept_us"]) - float(s["bare_us"]) - float(s["floor_us"]) for s in row.samples
        )
        lines.append(
            [
                row.format,
                "on" if row.fsync else "off",
                us(row.median("bare_us")),
                us(row.median("kept_us")),
                us(cost),
                us(row.median("floor_us")),
                us(beyond),
                within(cost, TARGET_US),
                checks(row),
            ]
        )
    return table(header, lines)


def array_table(rows: Sequence[ArrayRow]) -> str:
    header = ["array", "runs", "fsync", "by hand: `np.save` + a CSV line (ms per run)"]
    header += ["stet: `np.save(stet.output_dir() / ...)` (ms per run)", "cost of stet (us)"]
    header += ["within np.save + 100 us", "stet: `return arr`, results=True (ms per run)"]
    header += ["cost of results=True (us)", "check"]
    lines = []
    for row in rows:
        cost = paired(row, "stet_us", "hand_us")
        lines.append(
            [
                f"{row.mb} MB",
                f"{row.runs}",
                "on" if row.fsync else "off",
                f"{row.median('hand_us') / 1000:,.2f}",
                f"{row.median('stet_us') / 1000:,.2f}",
                us(cost),
                within(cost, TARGET_US),
                f"{row.median('returned_us') / 1000:,.2f}",
                us(paired(row, "returned_us", "hand_us")),
                checks(row),
            ]
        )
    return table(header, lines)


def report(results: Results) -> str:
    s = results.settings
    runs = f"{s.runs:,} runs ({s.fsync_runs:,} with fsync)"
    return "\n\n".join(
        [
            context(results.clock, ("numpy",), repeats_note(s.repeats)),
            section(
                f"An empty outputs directory: {runs}, trivial body", empty_table(results.empty)
            ),
            section("A NumPy array per run, CSV store", array_table(results.arrays)),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = command_line(
        __doc__, QUICK_HELP, list(EMPTY_FORMATS), "comma-separated", repeats=FULL.repeats
    )
    args = options.parse_args(argv)
    if worker_main(args, {"empty": measure_empty, "array": measure_array}):
        return
    settings = chosen_settings(args, QUICK, FULL)
    measure_and_report(
        args, "stet-outputs-", lambda work: run(settings, work, args.formats), report
    )


if __name__ == "__main__":
    main()
