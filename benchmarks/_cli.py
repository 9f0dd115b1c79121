"""What the benchmark scripts share: their command line, their working directory, their
tables.

``overhead.py``, ``parallel.py`` and ``sweep.py`` import it; they run as
``python benchmarks/<x>.py``, so this directory is on ``sys.path``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

Results = TypeVar("Results")
Settings = TypeVar("Settings")
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
    """The options the scripts take: ``--quick``, ``--json``, ``--dir``, ``--formats``
    (all of ``formats`` by default), ``--repeats`` (when ``repeats`` gives its default)
    and the hidden ``--worker`` of their own processes."""
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
    found.add_argument(
        "--formats",
        metavar="NAMES",
        type=format_names(formats, aliases),
        default=tuple(formats),
        help=f"{formats_help} (default: {','.join(formats)})",
    )
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
    import subprocess

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
