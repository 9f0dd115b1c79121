"""The harness every benchmark script shares: the command line, the measuring processes,
the machine line, the samples' medians and the Markdown tables.

The scripts run as ``python benchmarks/<x>.py``, so this directory is on ``sys.path``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

Results = TypeVar("Results")
Settings = TypeVar("Settings")
NOTE_ENV = "STET_BENCH_NOTE"  # what --note (or page.py) adds to the machine line
ROOT = Path(__file__).resolve().parent.parent
FORMATS = {  # the name --formats takes -> the store's extension, which picks the format
    "csv": ".csv",
    "jsonl": ".jsonl",
    "json": ".json",
    "sqlite": ".sqlite",
    "parquet": ".parquet",
}


def format_names(
    known: Sequence[str], aliases: Mapping[str, str] | None = None
) -> Callable[[str], tuple[str, ...]]:
    """The ``--formats`` parser: ``known`` names (or ``aliases`` of them), comma-separated,
    given back in the order of ``known``."""

    def parse(text: str) -> tuple[str, ...]:
        given = (part.strip().lower().lstrip(".") for part in text.split(","))
        names = {(aliases or {}).get(name, name) for name in given}
        names.discard("")
        unknown = names - set(known)
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"{', '.join(sorted(unknown)) or 'none given'}: choose from {', '.join(known)}"
            )
        return tuple(name for name in known if name in names)

    return parse


def command_line(
    doc: str | None,
    quick: str,
    formats: Sequence[str],
    formats_help: str,
    aliases: Mapping[str, str] | None = None,
    repeats: int | None = None,
) -> argparse.ArgumentParser:
    """The options the scripts take: ``--quick``, ``--json``, ``--dir``, ``--note``,
    ``--formats`` (when ``formats`` are given: all by default), ``--repeats`` (when
    ``repeats`` gives its default) and the hidden ``--worker`` of their own processes."""
    found = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    if repeats is not None:
        found.add_argument(
            "--repeats",
            type=_at_least_one,
            metavar="N",
            help=f"repeats of every row (default {repeats}; 1 with --quick)",
        )
    found.add_argument("--quick", action="store_true", help=quick)
    found.add_argument("--json", metavar="PATH", help="also write the raw numbers here")
    found.add_argument("--dir", metavar="DIR", help="where to put the stores (a temp dir)")
    if formats:
        found.add_argument(
            "--formats",
            metavar="NAMES",
            type=format_names(formats, aliases),
            default=tuple(formats),
            help=f"{formats_help} (default: {','.join(formats)})",
        )
    found.add_argument("--note", metavar="TEXT", help="added to the machine line")
    found.add_argument("--worker", help=argparse.SUPPRESS)
    return found


def _at_least_one(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def chosen_settings(args: argparse.Namespace, quick: Settings, full: Settings) -> Settings:
    """``--quick``'s settings or the full ones, with ``--repeats`` if given."""
    settings = quick if args.quick else full
    if getattr(args, "repeats", None) is not None:
        settings = dataclasses.replace(settings, repeats=args.repeats)  # type: ignore[type-var]
    return settings


def measure_and_report(
    args: argparse.Namespace,
    prefix: str,
    measure: Callable[[Path], Results],
    report: Callable[[Results], str],
) -> None:
    """Measure in a new temporary directory (under ``--dir``), removed afterwards; print
    the report, and write the raw numbers (a dataclass) to ``--json`` if given."""
    if args.note:
        os.environ[NOTE_ENV] = args.note
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=args.dir))
    try:
        results = measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(results))
    if args.json:
        raw = asdict(results)  # type: ignore[call-overload]  # Results: a dataclass
        Path(args.json).write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")


def table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    """A Markdown table: the first column aligned left, the others right."""
    rule = ["---" if i == 0 else "---:" for i in range(len(header))]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, rule, *lines])


def load_average() -> str:
    """The machine's load: others' work on a shared machine shows up in every timing."""
    if not hasattr(os, "getloadavg"):
        return "unknown"
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def source_state(root: Path) -> str:
    """`` (commit abc1234)`` of the repository at ``root``, with ``+ changes`` when stet's
    source differs from that commit; empty outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" (commit {head}{' + changes' if changed else ''})"


def machine(stet: str, packages: Sequence[str]) -> str:
    """``2 cores (x86_64), Python 3.11.7, stet 0.1.0 (commit abc1234), joblib 1.6.0, ...``:
    the machine, ``stet`` (how stet reads), and the version of each of ``packages`` that
    is installed."""
    import importlib
    import platform

    found = [stet]
    for name in packages:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found.append(f"{name} {module.__version__}")
    cores = f"{os.cpu_count()} cores ({platform.machine()})"
    return f"{cores}, Python {platform.python_version()}, " + ", ".join(found)


def check_written_store(recorded: Path, written: Path, function: str) -> None:
    """Stop unless a CSV store written by hand holds the cells of one stet recorded (all
    but the timestamps), and stet's owner file names ``function``."""

    def cells(path: Path) -> list[list[str]]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [line.split(",")[:-1] for line in lines]  # all but the timestamp

    owner = json.loads(Path(f"{recorded}.owner").read_text(encoding="utf-8"))["function"]
    if cells(recorded) != cells(written) or owner != function:
        raise SystemExit(
            f"the hand-written store differs from stet's: compare {recorded} and {written}"
        )


def rss_bytes() -> int:
    import psutil  # type: ignore[import-untyped]

    return int(psutil.Process().memory_info().rss)


def peak_rss_bytes() -> int:
    """The process's peak RSS so far (where ``resource`` is missing: the current RSS)."""
    try:
        import resource
    except ImportError:
        return rss_bytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def worker_main(
    args: argparse.Namespace, workers: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]]
) -> bool:
    """In a measuring process (``--worker SPEC``): run ``workers[spec["worker"]]`` and print
    what it found as the last line. False in the script's own process."""
    if not args.worker:
        return False
    spec = json.loads(args.worker)
    print(json.dumps(workers[spec["worker"]](spec)))
    return True


def run_worker(
    script: str, spec: dict[str, Any], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run ``script --worker SPEC`` in a fresh interpreter; what it found (its last line),
    with ``started``: the time just before the process was started."""
    command = [sys.executable, os.path.abspath(script), "--worker", json.dumps(spec)]
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        what = spec.get("worker", spec.get("tool", "?"))
        raise SystemExit(f"worker failed ({what}):\n{done.stdout}{done.stderr}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    found["started"] = started
    return found


@dataclass
class Sampled:
    """A row measured once per repeat: ``samples`` holds one dict per repeat."""

    samples: list[dict[str, Any]] = field(default_factory=list, kw_only=True)

    def median(self, name: str) -> float:
        import statistics

        return statistics.median(float(s[name]) for s in self.samples)

    def best(self, name: str) -> float:
        return min(float(s[name]) for s in self.samples)


@dataclass
class Clock:
    """When a run started, how loaded the machine was, and stet's source state."""

    load_at_start: str = field(default_factory=lambda: load_average())
    start: float = field(default_factory=time.perf_counter)
    source: str = field(default_factory=lambda: source_state(ROOT))
    seconds: float = 0.0
    load_at_end: str = ""

    def stop(self) -> Clock:
        self.seconds, self.load_at_end = time.perf_counter() - self.start, load_average()
        return self


def context(clock: Clock, packages: Sequence[str], details: str = "") -> str:
    """The line every script's report starts with: when, on what, how loaded, how long."""
    import stet

    note = os.environ.get(NOTE_ENV, "")
    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on "
        f"{machine(f'stet {stet.__version__}{clock.source}', packages)}"
        f"{f' ({note})' if note else ''}; load average (1, 5, 15 min) {clock.load_at_start} "
        f"at the start, {clock.load_at_end} at the end; {details}"
        f"the run took {clock.seconds / 60:.1f} min."
    )


def repeats_note(repeats: int) -> str:
    return f"{repeats} repeat{'s' if repeats > 1 else ''}, medians shown; "


def section(title: str, body: str) -> str:
    """A table (or any text) under its ``###`` title."""
    return f"### {title}\n\n{body}"


def timestamps(count: int) -> list[str]:
    """ISO 8601 UTC times a millisecond apart, as stet writes them."""
    import numpy as np

    start = np.datetime64("2026-03-12T11:48:59.428485", "us")
    times = start + np.arange(count) * np.timedelta64(997, "us")
    return [text + "+00:00" for text in np.datetime_as_string(times, unit="us").tolist()]


def write_csv_store(path: Path, columns: str, cells: Iterable[str], function: str) -> None:
    """Write a store in stet's CSV layout directly: the header (``columns`` and the
    timestamp), one line per row of ``cells`` (as many as there are), the owner file."""
    cells = list(cells)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(f"{columns},_stet_timestamp\n")
        out.writelines(
            f"{cell},{stamp}\n" for cell, stamp in zip(cells, timestamps(len(cells)), strict=True)
        )
    Path(f"{path}.owner").write_text(json.dumps({"function": function}) + "\n", encoding="utf-8")


def convert_store(spec: dict[str, Any]) -> dict[str, Any]:
    """A measuring process: ``stet.convert`` ``spec["source"]`` into ``spec["location"]``,
    timed as ``fill_s``; it must copy ``spec["records"]``."""
    import contextlib

    import stet

    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        count = stet.convert(spec["source"], spec["location"])
    took = time.perf_counter() - start
    if count != spec["records"]:
        raise SystemExit(f"stet.convert copied {count} records, not {spec['records']}")
    return {"fill_s": took}


def peer(tool: str, location: str, body: Callable[..., Any]) -> Callable[..., Any]:
    """``body`` behind ``joblib.Memory(...).cache`` or ``diskcache.Cache(...).memoize()``."""
    if tool == "joblib":
        import joblib  # type: ignore[import-untyped]

        return joblib.Memory(location=location, verbose=0).cache(body)  # type: ignore[no-any-return]
    if tool == "diskcache":
        import diskcache  # type: ignore[import-untyped]

        return diskcache.Cache(location).memoize()(body)  # type: ignore[no-any-return]
    raise ValueError(f"unknown tool {tool!r}")


def progress(script: str, text: str) -> None:
    print(f"[{script}] {text}", file=sys.stderr, flush=True)


def import_format(name: str) -> None:
    """Import what stet reads the format ``name`` (a key of ``FORMATS``) with, so that no
    clock counts it. Reaches stet's format table (``stet.formats.FORMATS``)."""
    import importlib

    from stet import formats

    cls = formats.FORMATS[FORMATS[name]].cls  # a class, or "module:Class" imported lazily
    module = cls.__module__ if isinstance(cls, type) else cls.partition(":")[0]
    importlib.import_module(module)
