"""What ``@stet.once`` costs in every store format: fill, open, skip, record and size.

Run it from the repository root, with the ``bench`` extra installed
(``pip install -e ".[bench]"``: numpy, psutil, pyarrow)::

    python benchmarks/formats.py                 # the full run: about 6 minutes on 2 cores
    python benchmarks/formats.py --quick         # stores of 10^3 and 10^4 records
    python benchmarks/formats.py --formats csv,parquet --json results.json

Every store format (``--formats`` picks them; all five by default) is measured as
``overhead.py`` measures CSV (see ``_stores.py``): at 10^3, 10^5 and 10^6 records (10^3 and
10^4 with ``--quick``), both value distributions (a grid and unique random floats). The
CSV store is written by hand in stet's layout; each other format's store is made by
``stet.convert`` of it, in a fresh process, and that conversion is timed as its fill. Its
open includes whatever the format imports on first use (pyarrow for Parquet): nothing is
subtracted. Its size is the bytes of everything the store consists of (the file; every
file of a ``.parquet`` directory; a ``.sqlite`` database and its ``-wal``), not the
``.owner`` file, per record, before any process records into it. A CSV store is cut back
to its length after each process; any other store is put back from a pristine copy
(with its side files) before each process, untimed. Tables to stdout, progress to stderr.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import _stores
from _harness import (
    FORMATS,
    Clock,
    command_line,
    context,
    import_format,
    measure_and_report,
    progress,
    section,
    table,
)
from _stores import FULL, QUICK, Row, Settings, opens, target_cells, us, worst

FORMAT_TARGETS = {  # at 10^6 records; a format without an open target has no row for it
    "csv": {"skip (us)": 2.0, "record (us)": 20.0, "open (s)": 1.5},
    "jsonl": {"skip (us)": 2.0, "record (us)": 20.0},
    "json": {"skip (us)": 2.0, "record (us)": 20.0},
    "sqlite": {"skip (us)": 2.0, "record (us)": 100.0},
    "parquet": {"skip (us)": 2.0, "record (us)": 100.0, "open (s)": 1.0},
}
MEASURED = {"skip (us)": "hit_us", "record (us)": "miss_us", "open (s)": "open_s"}
NOTE = (
    "fill: the CSV store is written by hand; every other format is `stet.convert` of that "
    "CSV, timed alone in a fresh process. open, skip and record as in `overhead.py`; open "
    "includes importing what the format needs (pyarrow for .parquet). size: the store's "
    "bytes (a .parquet directory's files, a .sqlite database and its -wal; not the .owner "
    "file) per record."
)


def store_bytes(home: Path) -> int:
    """The bytes of a store alone in the directory ``home``: its file or directory and
    what its format keeps beside it (SQLite's ``-wal``); not the ``.owner`` and ``.lock``
    files, nor SQLite's ``-shm`` memory index."""
    return sum(
        path.stat().st_size
        for path in home.rglob("*")
        if path.is_file() and not path.name.endswith((".owner", ".lock", "-shm"))
    )


def restorer(home: Path, pristine: Path) -> Callable[[], None]:
    """Put the store in ``home`` back as ``pristine`` holds it, side files and all."""

    def restore() -> None:
        shutil.rmtree(home)
        shutil.copytree(pristine, home)

    return restore


def bench_format(
    name: str, source: Path, pairs: Sequence[_stores.Pair], values: str, work: Path, s: Settings
) -> Row:
    """Convert the CSV store ``source`` into the format ``name``, in a directory of its
    own with a pristine copy beside it, and measure it."""
    key = f"{name}-{values}-{len(pairs)}"
    home, pristine = work / key, work / f"{key}.pristine"
    home.mkdir()
    location = home / f"stet{FORMATS[name]}"
    spec = {"worker": "convert", "source": str(source), "location": str(location)}
    filled = _stores.worker({**spec, "records": len(pairs)})
    shutil.copytree(home, pristine)  # the converting process has exited: nothing pending
    size = store_bytes(pristine)
    sample = work / f"{key}.sample.json"
    restore = restorer(home, pristine)
    row = _stores.measure_store(
        "stet", location, pairs, values, filled["fill_s"], s, restore, sample
    )
    row.format, row.store_bytes = name, size
    for directory in (home, pristine):
        shutil.rmtree(directory)  # a 10^6-record store of each format would add up
    return row


def formats_table(rows: Sequence[Row]) -> str:
    """Every format at every size, grouped by size and distribution to compare formats."""
    order = list(FORMATS)
    header = ["format", "records", "values", "fill (s)", "open (s), median [min]"]
    header += ["skip (us)", "record (us)", "size (B/record)"]
    lines = [
        [
            *(r.format, f"{r.size:,}", r.values, f"{r.fill_s:.2f}", opens(r)),
            *(us(r.best("hit_us")), us(r.best("miss_us")), f"{r.store_bytes / r.size:.0f}"),
        ]
        for r in sorted(rows, key=lambda r: (r.size, r.values, order.index(r.format)))
    ]
    return table(header, lines)


def format_target_table(rows: Sequence[Row]) -> str:
    """Each format's targets at the largest size, on the worse of the two distributions."""
    largest = max(r.size for r in rows)
    lines = []
    for name, targets in FORMAT_TARGETS.items():
        at_largest = [r for r in rows if r.format == name and r.size == largest]
        for what, target in targets.items() if at_largest else ():
            lines.append([name, what, *target_cells(target, *worst(at_largest, MEASURED[what]))])
    header = ["format", f"at {largest:,} records", "target", "best", "median", "met"]
    return table(header, lines)


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    formats: list[Row]
    clock: Clock


def report(results: Results) -> str:
    return "\n\n".join(
        [
            context(results.clock, ("numpy", "pyarrow")),
            section("Formats", formats_table(results.formats) + "\n\n" + NOTE),
            section("Targets by format", format_target_table(results.formats)),
        ]
    )


def run(s: Settings, work: Path, formats: Sequence[str]) -> Results:
    clock = Clock()
    for name in formats:  # stop at once when a format asked for cannot be read, not midway
        try:
            import_format(name)
        except ImportError as error:
            raise SystemExit(f"{name}: {error}; leave it out with --formats") from error
    rows = []
    for size in s.format_sizes:
        for values in ("grid", "random"):
            pairs = _stores.pairs_of(values, size)
            location = work / f"stet-{values}-{size}.csv"
            if "csv" in formats:
                progress("formats", f"csv, {size:,} records, {values} values")
                rows.append(_stores.bench_stet(location, pairs, values, s))
            else:
                _stores.write_stet_store(location, pairs)  # only the source of the others
            for name in (name for name in formats if name != "csv"):
                progress("formats", f"{name}, {size:,} records, {values} values")
                rows.append(bench_format(name, location, pairs, values, work, s))
            location.unlink()  # a 10^6-record CSV store is ~70 MB
    return Results(s, rows, clock.stop())


def main(argv: Sequence[str] | None = None) -> None:
    options = command_line(__doc__, "small stores only (< 1 min)", list(FORMATS), "comma-separated")
    args = options.parse_args(argv)
    settings = QUICK if args.quick else FULL
    measure_and_report(
        args, "stet-formats-", lambda work: run(settings, work, args.formats), report
    )


if __name__ == "__main__":
    main()
