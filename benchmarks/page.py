"""Write docs/benchmarks.md from one run of every benchmark script.

Run it from the repository root, with the ``bench``, ``pandas`` and ``postgres`` extras::

    python benchmarks/page.py                # every script's full run (about 40 minutes)
    python benchmarks/page.py --quick        # every script's --quick run: a few minutes
    python benchmarks/page.py --quick --note "shared machine, loaded by other work"

The page's prose is written by hand; each script's output goes between the markers
``<!-- begin: benchmarks/<script> -->`` and ``<!-- end: benchmarks/<script> -->``, its
``###`` titles moved one level below the heading the markers stand under. Every script
runs in its own process, one after the other; their progress goes to stderr.
``tests/test_benchmarks.py`` checks that each block's tables (titles and columns) are the
ones its script prints, so a table cannot outlive its script.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE = HERE.parent / "docs" / "benchmarks.md"
SCRIPTS = (  # in the order of the page
    "overhead.py",
    "formats.py",
    "lock.py",
    "parallel.py",
    "sweep.py",
    "resume.py",
    "results.py",
    "loading.py",
    "outputs.py",
)
BLOCK = re.compile(
    r"(<!-- begin: benchmarks/(?P<script>[\w.]+) -->\n)(?P<body>.*?)"
    r"(<!-- end: benchmarks/(?P=script) -->)",
    re.DOTALL,
)


def blocks(page: str) -> dict[str, str]:
    """Each script's generated text on the page, by script."""
    return {found["script"]: found["body"] for found in BLOCK.finditer(page)}


def tables(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each Markdown table of ``text``: the title it stands under (with ``#`` marks and
    numbers taken out: a full run and ``--quick`` differ in sizes) and its columns."""
    found, title, lines = [], "", text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#"):
            title = line.lstrip("#").strip()
        elif line.startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("| ---"):
            columns = tuple(cell.strip() for cell in line.strip("| ").split(" | "))
            found.append((without_numbers(title), tuple(map(without_numbers, columns))))
    return found


def without_numbers(text: str) -> str:
    return re.sub(r"\d[\d,.^]*", "N", text)


def heading_level(page: str, at: int) -> int:
    """The level of the last heading before ``at`` (0 when there is none)."""
    levels = [len(m.group(1)) for m in re.finditer(r"^(#+) ", page[:at], re.MULTILINE)]
    return levels[-1] if levels else 0


def placed(output: str, level: int) -> str:
    """A script's output with its ``###`` titles at ``level + 1``."""
    return re.sub(r"^### ", "#" * (level + 1) + " ", output.strip(), flags=re.MULTILINE) + "\n"


def run_script(script: str, options: Sequence[str]) -> str:
    print(f"[page] {script} {' '.join(options)}", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, str(HERE / script), *options], stdout=subprocess.PIPE, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"{script} failed ({done.returncode})")
    return done.stdout


def write_page(page: str, outputs: dict[str, str]) -> str:
    """The page with each script's block replaced by its output."""
    missing = set(outputs) - set(blocks(page))
    if missing:
        raise SystemExit(f"the page has no block for {', '.join(sorted(missing))}")

    def replace(found: re.Match[str]) -> str:
        script = found["script"]
        if script not in outputs:
            return found.group(0)
        level = heading_level(page, found.start())
        return found.group(1) + "\n" + placed(outputs[script], level) + "\n" + found.group(4)

    return BLOCK.sub(replace, page)


def main(argv: Sequence[str] | None = None) -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--quick", action="store_true", help="every script's --quick run")
    options.add_argument("--note", metavar="TEXT", help="added to every machine line")
    options.add_argument("--dir", metavar="DIR", help="where the scripts put their stores")
    options.add_argument(
        "--scripts",
        metavar="NAMES",
        default=",".join(SCRIPTS),
        help="only these scripts' blocks, comma-separated (default: all)",
    )
    options.add_argument("--page", metavar="PATH", default=str(PAGE), help="the page to write")
    args = options.parse_args(argv)
    passed = ["--quick"] if args.quick else []
    passed += ["--note", args.note] if args.note else []
    passed += ["--dir", args.dir] if args.dir else []
    chosen = [s.strip() for s in args.scripts.split(",") if s.strip()]
    unknown = set(chosen) - set(SCRIPTS)
    if unknown:
        raise SystemExit(f"unknown scripts: {', '.join(sorted(unknown))}")
    path = Path(args.page)
    page = path.read_text(encoding="utf-8")
    outputs = {script: run_script(script, passed) for script in chosen}
    path.write_text(write_page(page, outputs), encoding="utf-8")
    print(f"[page] wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
