"""The tables of ``parallel.py``: throughput by N, what a claim costs, the target."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from _crowd import SLEEP, TRIVIAL, Row, Sample
from _harness import table

TARGET = 3.0  # claims on, per run, over one process's record cost with claims off


def us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def times(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def baseline(rows: Sequence[Row], row: Row) -> Row | None:
    """What a row's per-run cost is compared with: one process of the same tool and format
    over the same grid without claims (stet's claims-off row; a peer's own 1-worker row)."""
    for other in rows:
        if (other.tool, other.format, other.scenario, other.workers, other.claims) == (
            row.tool,
            row.format,
            TRIVIAL if row.tool == "stet" else row.scenario,
            1,
            False,
        ):
            return other
    return None


Measure = Callable[["Row", Sample], float]


def ratio(row: Row, base: Row, measure: Measure) -> float:
    """The median over the repeats of the row's measure over the base's in the same repeat
    (measured minutes apart, so a slow spell of the machine falls on both)."""
    pairs = zip(row.samples, base.samples, strict=True)
    return statistics.median(measure(row, s) / measure(base, b) for s, b in pairs)


def difference(row: Row, base: Row, measure: Measure) -> float:
    """The median over the repeats of the row's measure minus the base's, repeat by repeat."""
    pairs = zip(row.samples, base.samples, strict=True)
    return statistics.median(measure(row, s) - measure(base, b) for s, b in pairs)


def by_worker(sample: Sample) -> str:
    return "+".join(str(n) for n in sample.executions)


def worst_check(row: Row) -> str:
    """The checks of a stet row over its repeats: "ok", or what went wrong."""
    problems = []
    for s in row.samples:
        expected = row.grid + row.workers  # each worker's warm-up call is a record too
        if row.tool == "stet" and s.recorded != expected:
            problems.append(f"{s.recorded} records, not {expected}")
        if s.second_pass:
            problems.append(f"second pass ran {s.second_pass}")
        if s.claims_left:
            problems.append("a claim left")
        if row.tool == "stet" and s.messages:
            problems.append(f"printed: {s.messages[0][:60]}")
    return "; ".join(sorted(set(problems))) or "ok"


def sweep_table(rows: Sequence[Row], scenario: str) -> str:
    header = [
        "tool",
        "workers",
        "runs/s",
        "wall (s)",
        "CPU per run (us)",
        "wall x N per run (us)",
        "CPU / 1 process, no claims",
        "wall x N / 1 process, no claims",
        "executions by worker",
        "duplicates",
        "missing",
        "store afterwards",
    ]
    lines = []
    for row in rows:
        if row.scenario != scenario:
            continue
        base = baseline(rows, row)
        typical = row.typical()
        lines.append(
            [
                row.name,
                str(row.workers),
                f"{row.grid / row.wall_s():,.0f}",
                f"{row.wall_s():.3f}",
                us(row.cpu_us()),
                us(row.wall_n_us()),
                times(ratio(row, base, Row.cpu_of)) if base else "-",
                times(ratio(row, base, Row.wall_n_of)) if base else "-",
                by_worker(typical),
                str(max(s.duplicates for s in row.samples)),
                str(max(s.missing for s in row.samples)),
                worst_check(row),
            ]
        )
    return table(header, lines)


def sleep_table(rows: Sequence[Row]) -> str:
    """The sleeping body: wall time by N, and the speed-up over one worker."""
    header = ["tool", "workers", "wall (s)", "runs/s", "speed-up over 1 worker"]
    header += ["CPU per run (us)", "executions by worker", "duplicates", "missing"]
    header += ["store afterwards"]
    lines = []
    for row in rows:
        if row.scenario != SLEEP:
            continue
        one = next(
            (r for r in rows if r.scenario == SLEEP and r.name == row.name and r.workers == 1),
            None,
        )
        lines.append(
            [
                row.name,
                str(row.workers),
                f"{row.wall_s():.3f}",
                f"{row.grid / row.wall_s():,.0f}",
                f"{one.wall_s() / row.wall_s():.2f}" if one else "-",
                us(row.cpu_us()),
                by_worker(row.typical()),
                str(max(s.duplicates for s in row.samples)),
                str(max(s.missing for s in row.samples)),
                worst_check(row),
            ]
        )
    return table(header, lines)


def overhead_table(rows: Sequence[Row]) -> str:
    """One process, claims on and off: what a claim adds to each run."""
    header = ["format", "record, claims off: CPU (us/run)", "claims on: CPU (us/run)"]
    header += ["claim overhead: CPU (us/run)", "claims off: wall (us/run)"]
    header += ["claims on: wall (us/run)", "claim overhead: wall (us/run)"]
    lines = []
    for off in rows:
        if off.tool != "stet" or off.claims:
            continue
        on = next(
            r
            for r in rows
            if r.tool == "stet" and r.format == off.format and r.scenario == TRIVIAL
            if r.claims and r.workers == 1
        )
        lines.append(
            [
                off.format,
                us(off.cpu_us()),
                us(on.cpu_us()),
                us(difference(on, off, Row.cpu_of)),
                us(off.wall_n_us()),
                us(on.wall_n_us()),
                us(difference(on, off, Row.wall_n_of)),
            ]
        )
    return table(header, lines)


def target_table(rows: Sequence[Row]) -> str:
    """Per format: the largest ratio over N, on CPU (the target) and on wall x N."""
    header = ["format", "target", "CPU ratio by N", "worst", "met", "wall x N ratio by N"]
    lines = []
    for off in rows:
        if off.tool != "stet" or off.claims:
            continue
        mine = [
            r for r in rows if r.tool == "stet" and r.format == off.format and r.scenario == TRIVIAL
        ]
        mine = [r for r in mine if r.claims]
        cpu = [ratio(r, off, Row.cpu_of) for r in mine]
        wall = [ratio(r, off, Row.wall_n_of) for r in mine]
        lines.append(
            [
                off.format,
                f"{TARGET:g}x",
                ", ".join(f"{r.workers}: {times(v)}" for r, v in zip(mine, cpu, strict=True)),
                times(max(cpu)),
                "yes" if max(cpu) <= TARGET else "**no**",
                ", ".join(f"{r.workers}: {times(v)}" for r, v in zip(mine, wall, strict=True)),
            ]
        )
    return table(header, lines)


def server_note(rows: Sequence[Row]) -> str:
    """How much of PostgreSQL's CPU per run is the server's."""
    mine = [r for r in rows if r.format == "postgresql" and r.scenario == TRIVIAL]
    if not mine:
        return ""
    if any(r.server_us() is None for r in mine):
        return (
            "PostgreSQL rows count the workers' CPU only: the server was not started by this "
            "script, so its processes were not measured."
        )
    shares = ", ".join(
        f"{r.workers} worker{'s' if r.workers > 1 else ''}"
        f"{'' if r.claims else ' (claims off)'}: {us(r.server_us())} of {us(r.cpu_us())}"
        for r in mine
    )
    return (
        "PostgreSQL rows add the server's CPU (its processes' user + system time, in clock "
        f"ticks) to the workers'; the server's share, us per run: {shares}."
    )
