"""What keeping results costs per call (``@stet.once(results=True)``), beside its peers.

Run it from the repository root, with the ``bench`` extra installed
(``pip install -e ".[bench]"``: joblib, diskcache, psutil, pyarrow)::

    python benchmarks/results.py              # the full run: about 3 minutes on 2 cores
    python benchmarks/results.py --quick      # 10^3 calls, one repeat: under a minute
    python benchmarks/results.py --formats csv,sqlite --repeats 3 --json results.json

The function is ``experiment(alpha, beta)`` (see ``_returns.py``); stet runs with its
defaults (claims on) and messages off. Each row is repeated (``--repeats``, 5 by default,
1 with ``--quick``; the repeats go round all the rows in turn) and shown as the median.

10^4 calls (10^3 with ``--quick``), each row on a fresh store: after one warm-up call
(it creates the store, and imports what the format needs), a loop of calls with new
parameters (``record``; the list of return values is kept, as ``results.append(f(a, b))``
keeps it), then the same calls again, shuffled (``skip``). A format's three stet rows are
measured in one process, their loops taking turns batch by batch (10 batches; the row
that goes first rotates), so that the machine's noise falls on the three alike; each
peer's row has a process of its own. The rows: ``@stet.once(results=True)`` returning a
float, and a dict of 3 floats; ``@stet.once`` without results, whose skip returns
``None``; ``joblib.Memory(...).cache`` and ``diskcache.Cache(...).memoize()`` on the same
calls (miss and hit); "plain call", the undecorated body in the same loop.

Each skip and hit is checked: the body did not run, and every value returned equals what
the call returned when it ran (``None`` for stet without results). "Cost of results" is
the results row minus the row without results of the same format, repeat by repeat.
Tables to stdout, progress to stderr.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable, Sequence
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
    import_format,
    measure_and_report,
    peer,
    progress,
    repeats_note,
    run_worker,
    section,
    table,
    worker_main,
)
from _returns import DICT, FLOAT, FULL, QUICK, QUICK_HELP, Settings

WARM_UP = (2.0, 2.0)  # outside the grid, whose values lie in [0, 1]
BATCHES = 10  # the rows measured in one process take turns this many times per loop
STET, JOBLIB, DISKCACHE = "stet", "joblib", "diskcache"
RETURNS = {FLOAT: "float", DICT: "dict of 3 floats"}
TOOLS = {  # (tool, results kept) -> how the table names it
    (STET, True): "`@stet.once(results=True)`",
    (STET, False): "`@stet.once`, no results (skip returns None)",
    (JOBLIB, False): "`joblib.Memory(...).cache`",
    (DISKCACHE, False): "`diskcache.Cache(...).memoize()`",
}


def wrapped(variant: dict[str, Any]) -> Callable[[float, float], Any]:
    """The body behind the row's tool, as a user would write it."""
    body = r.BODIES[variant["returns"]]
    if variant["tool"] != STET:
        return peer(variant["tool"], variant["location"], body)
    import stet

    return stet.once(store=variant["location"], verbose=False, results=variant["results"])(body)


def interleaved(
    funcs: Sequence[Callable[[float, float], Any]], pairs: Sequence[r.Pair], batches: int
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
            took, values = r.timed_calls(funcs[i], batch)
            spent[i] += took
            found[i] += values
    return [(ns / len(pairs) / 1000, values) for ns, values in zip(spent, found, strict=True)]


def measure_calls(spec: dict[str, Any]) -> dict[str, Any]:
    """The rows of one format (or one peer's row), in this fresh process, each on a fresh
    store of its own, their loops taking turns batch by batch."""
    variants = spec["variants"]
    for variant in variants:
        importlib.import_module(variant["tool"])  # import time is not a call's
    if spec["format"]:
        import_format(spec["format"])
    calls, batches = spec["calls"], spec["batches"]
    pairs = r.grid_pairs(calls)
    again = r.shuffled(pairs, calls, seed=spec["seed"])
    funcs = [wrapped(variant) for variant in variants]
    problems: list[list[str]] = [[] for _ in variants]
    for func, found in zip(funcs, problems, strict=True):
        func(*WARM_UP)
        if r.take_runs() != 1:
            found.append("the warm-up call did not run")
    records = interleaved(funcs, pairs, batches)
    if (runs := r.take_runs()) != calls * len(funcs):
        for found in problems:
            found.append(f"record: the bodies ran {runs} times, not {calls} each")
    skips = interleaved(funcs, again, batches)
    if (runs := r.take_runs()) != 0:
        for found in problems:
            found.append(f"skip: the bodies ran {runs} times")
    plains = interleaved([r.BODIES[v["returns"]] for v in variants], again, batches)
    r.take_runs()
    rows = []
    for variant, (record_us, recorded), (skip_us, skipped), (plain_us, _), found in zip(
        variants, records, skips, plains, problems, strict=True
    ):
        compute = r.EXPECTED[variant["returns"]]
        found += r.compare(recorded, [compute(*p) for p in pairs], "record")
        keeps = variant["tool"] != STET or variant["results"]
        found += r.compare(skipped, [compute(*p) if keeps else None for p in again], "skip")
        check = "; ".join(found) or "ok"
        rows.append({"record_us": record_us, "skip_us": skip_us, "plain_us": plain_us})
        rows[-1]["check"] = check
    return {"rows": rows}


@dataclass
class CallRow(Sampled):
    """One tool, store format and return type."""

    tool: str
    results: bool
    returns: str  # a key of RETURNS
    format: str  # a key of FORMATS; "" for the peers


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    formats: list[str]
    calls: list[CallRow]
    clock: Clock


def plan_calls(formats: Sequence[str]) -> list[list[CallRow]]:
    """The rows, grouped by the process that measures them: a format's stet rows
    together, each peer's row alone."""
    groups = []
    for name in formats:
        rows = [CallRow(STET, False, FLOAT, name)]
        groups.append([*rows, CallRow(STET, True, FLOAT, name), CallRow(STET, True, DICT, name)])
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
        spec = {"worker": "calls", "format": rows[0].format, "variants": variants}
        spec |= {"calls": s.calls, "batches": BATCHES, "seed": repeat}
        found = run_worker(__file__, spec)["rows"]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    for row, sample in zip(rows, found, strict=True):
        row.samples.append(sample)


def run(s: Settings, work: Path, formats: Sequence[str]) -> Results:
    clock = Clock()
    groups = plan_calls(formats)
    for repeat in range(s.repeats):  # repeats outermost: noise spreads over every row
        for group in groups:
            what = f"stet, {group[0].format}" if group[0].format else group[0].tool
            if not group[0].format:
                what += f", returning a {group[0].returns}"
            progress("results", f"per call, repeat {repeat + 1}/{s.repeats}: {what}")
            measure_call_group(group, s, work, repeat)
    return Results(s, list(formats), [row for group in groups for row in group], clock.stop())


def calls_table(rows: Sequence[CallRow]) -> str:
    header = ["how", "format", "returns", "record / miss (us per call)"]
    header += ["skip / hit (us per call)", "cost of results: record (us)"]
    header += ["cost of results: skip (us)", "plain call (us)", "skips return"]
    lines = []
    for row in rows:
        extra = ["-", "-"]
        if row.tool == STET and row.results:
            bare = next(
                x for x in rows if x.tool == STET and not x.results and x.format == row.format
            )
            extra = [r.us(r.paired(row.samples, bare.samples, n)) for n in ("record_us", "skip_us")]
        values = "None" if row.tool == STET and not row.results else "the values"
        check = r.checks(row.samples)
        lines.append(
            [
                TOOLS[(row.tool, row.results)],
                row.format or "-",
                RETURNS[row.returns],
                r.us(row.median("record_us")),
                r.us(row.median("skip_us")),
                *extra,
                r.us(row.median("plain_us")),
                f"{values}: {check}" if check == "ok" else check,
            ]
        )
    return table(header, lines)


def report(results: Results) -> str:
    s = results.settings
    packages = ("joblib", "diskcache", "pyarrow", "psutil")
    title = f"Per call: {s.calls:,} calls, trivial body"
    return "\n\n".join(
        [
            context(results.clock, packages, repeats_note(s.repeats)),
            section(title, calls_table(results.calls)),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = command_line(__doc__, QUICK_HELP, list(FORMATS), "comma-separated", repeats=5)
    args = options.parse_args(argv)
    if worker_main(args, {"calls": measure_calls}):
        return
    settings = chosen_settings(args, QUICK, FULL)
    measure_and_report(
        args, "stet-results-", lambda work: run(settings, work, args.formats), report
    )


if __name__ == "__main__":
    main()
