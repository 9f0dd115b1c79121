"""The processes of ``parallel.py``: N workers over one grid against one store, started
together, and a fresh process that checks the store afterwards.

Run as ``python benchmarks/_crowd.py --worker SPEC`` (or ``--verify SPEC``) by
``parallel.py`` only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import FORMATS as FILE_FORMATS
from _harness import peer
from _postgres import Postgres

Pair = tuple[float, float]
Call = Callable[[float, float], Any]
FORMATS = {**FILE_FORMATS, "postgresql": ""}  # --formats names -> extension ("" for a URL)
PEERS = {  # tool -> how the tables name it
    "joblib": "joblib.Memory",
    "diskcache": "diskcache memoize",
    "loop": "hand-written loop",
}
TRIVIAL, SLEEP = "trivial", "sleep 1 ms"
_executed: list[Pair] = []
_sleep = 0.0


def experiment(alpha: float, beta: float) -> None:
    """The benchmarked function: it notes that it ran (and sleeps, in the second scenario)."""
    _executed.append((alpha, beta))
    if _sleep:
        time.sleep(_sleep)


def grid_pairs(size: int) -> list[Pair]:
    """``size`` (alpha, beta) points of a grid over [0, 1] x [0, 1], row by row."""
    rows = max(n for n in range(1, int(size**0.5) + 1) if size % n == 0)
    cols = size // rows
    return [(i / max(rows - 1, 1), j / max(cols - 1, 1)) for i in range(rows) for j in range(cols)]


class HandWrittenLoop:
    """The resume loop a researcher writes by hand: read what is done, skip it, append."""

    def __init__(self, path: str) -> None:
        self.done: set[Pair] = set()
        with contextlib.suppress(FileNotFoundError), open(path, encoding="utf-8") as lines:
            for line in lines:
                if not line.endswith("\n"):
                    break  # a line another process is writing right now
                alpha, beta = line.split(",")
                self.done.add((float(alpha), float(beta)))
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the process)

    def __call__(self, alpha: float, beta: float) -> None:
        if (alpha, beta) in self.done:
            return
        experiment(alpha, beta)
        self.out.write(f"{alpha!r},{beta!r}\n")
        self.out.flush()
        self.done.add((alpha, beta))


def wrap(tool: str, location: str, claims: bool) -> Call:
    """``experiment`` behind the tool, as a user would write it."""
    if tool == "loop":
        return HandWrittenLoop(location)
    if tool != "stet":
        return peer(tool, location, experiment)
    import stet

    return stet.once(store=location, verbose=False, claims=claims)(experiment)


def worker(spec: dict[str, Any]) -> None:
    """One worker: warm up outside the grid, wait for the go-file, sweep, write results."""
    global _sleep
    _sleep = spec["sleep"]
    call = wrap(spec["tool"], spec["location"], spec["claims"])
    pairs = grid_pairs(spec["grid"])
    number = {pair: i for i, pair in enumerate(pairs)}
    call(-1.0 - spec["worker"], -1.0)  # opens the store: not a run of the grid
    _executed.clear()
    Path(spec["ready"]).touch()
    go, polls = spec["go"], 0
    while not os.path.exists(go):
        polls += 1
        if polls % 1000 == 0 and os.getppid() != spec["parent"]:
            raise SystemExit("the benchmark that started this worker has gone")
        time.sleep(0.0005)
    start, before = time.time(), time.process_time()
    for alpha, beta in pairs:
        call(alpha, beta)
    after, end = time.process_time(), time.time()
    result = {
        "start": start,
        "end": end,
        "cpu_s": after - before,
        "cpu_total_s": after,
        "executed": [number[pair] for pair in _executed],
    }
    temp = spec["result"] + ".tmp"
    Path(temp).write_text(json.dumps(result), encoding="utf-8")
    os.replace(temp, spec["result"])


def verify(spec: dict[str, Any]) -> None:
    """In a fresh process after a row: what the store holds, and a second pass over it."""
    found: dict[str, Any] = {"recorded": None}
    if spec["tool"] == "stet":
        import stet

        found["recorded"] = len(stet.records(spec["location"]))
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            stet.status(spec["location"])
        found["running"] = "running now" in printed.getvalue()  # a claim still held
    call = wrap(spec["tool"], spec["location"], False)
    for alpha, beta in grid_pairs(spec["grid"]):
        call(alpha, beta)
    found["second_pass"] = len(_executed)
    print(json.dumps(found))


@dataclass
class Sample:
    """One repeat of one row."""

    wall_s: float
    cpu_s: float  # the workers' loops, summed
    exit_cpu_s: float  # the workers' CPU after their loops: exit handlers, interpreter exit
    server_cpu_s: float | None  # PostgreSQL's, when known
    executions: list[int]  # per worker
    duplicates: int
    missing: int
    recorded: int | None  # len(stet.records(...)) afterwards (grid + one warm-up per worker)
    second_pass: int  # bodies run by a second pass over the grid afterwards
    claims_left: bool  # a claim (file or row) left after every worker exited
    messages: list[str]  # anything the workers printed


@dataclass
class Row:
    """One tool on one store format, with N workers, over one grid."""

    tool: str  # "stet" or a key of PEERS
    format: str  # a key of FORMATS, or the peer's own storage
    scenario: str  # TRIVIAL or SLEEP
    workers: int
    claims: bool
    grid: int
    samples: list[Sample] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.tool == "stet":
            return f"stet {self.format}" + ("" if self.claims else ", claims off")
        return PEERS[self.tool]

    def median(self, what: Callable[[Sample], float]) -> float:
        return statistics.median(what(s) for s in self.samples)

    def cpu_of(self, sample: Sample) -> float:
        """CPU per run (us) in one repeat: the workers', and PostgreSQL's when known."""
        return (sample.cpu_s + (sample.server_cpu_s or 0.0)) / self.grid * 1e6

    def wall_n_of(self, sample: Sample) -> float:
        """Wall time x workers per run (us) in one repeat."""
        return sample.wall_s * self.workers / self.grid * 1e6

    def cpu_us(self) -> float:
        return self.median(self.cpu_of)

    def server_us(self) -> float | None:
        if any(s.server_cpu_s is None for s in self.samples):
            return None
        return self.median(lambda s: (s.server_cpu_s or 0.0) / self.grid * 1e6)

    def wall_s(self) -> float:
        return self.median(lambda s: s.wall_s)

    def wall_n_us(self) -> float:
        return self.median(self.wall_n_of)

    def typical(self) -> Sample:
        """The repeat with the median wall time."""
        ordered = sorted(self.samples, key=lambda s: s.wall_s)
        return ordered[(len(ordered) - 1) // 2]


def command(spec: dict[str, Any], mode: str) -> list[str]:
    return [sys.executable, os.path.abspath(__file__), mode, json.dumps(spec)]


def wait_for(
    paths: Sequence[Path], procs: Sequence[subprocess.Popen[bytes]], logs: Sequence[Path]
) -> None:
    """Wait until every path exists; stop when a worker exits before its path appears."""
    deadline = time.monotonic() + 300
    while not all(p.exists() for p in paths):
        for path, proc, log in zip(paths, procs, logs, strict=True):
            if proc.poll() is not None and not path.exists():
                raise SystemExit(f"a worker exited ({proc.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise SystemExit("workers did not get ready in 300 s")
        time.sleep(0.002)


def children_cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_once(row: Row, location: str, home: Path, pg: Postgres | None) -> Sample:
    """Start the row's workers together, let them sweep, and check the store after."""
    go = home / "go"
    specs: list[dict[str, Any]] = [
        {
            "tool": row.tool,
            "location": location,
            "claims": row.claims,
            "grid": row.grid,
            "sleep": 0.001 if row.scenario == SLEEP else 0.0,
            "worker": i,
            "ready": str(home / f"ready.{i}"),
            "go": str(go),
            "result": str(home / f"result.{i}.json"),
            "parent": os.getpid(),
        }
        for i in range(row.workers)
    ]
    logs = [home / f"worker.{i}.log" for i in range(row.workers)]
    children_before = children_cpu_s()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for spec, log in zip(specs, logs, strict=True):
            with open(log, "wb") as out:
                procs.append(subprocess.Popen(command(spec, "--worker"), stdout=out, stderr=out))
        wait_for([Path(s["ready"]) for s in specs], procs, logs)
        server_before = pg.cpu_s() if pg is not None else None
        started = time.time()  # before the go-file: a worker cannot start before this
        go.touch()
        for proc, log in zip(procs, logs, strict=True):
            if proc.wait() != 0:
                raise SystemExit(f"a worker failed ({proc.returncode}):\n{log.read_text()}")
    finally:
        for proc in procs:  # after a failure: stop the workers still waiting or running
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = [json.loads(Path(s["result"]).read_text()) for s in specs]
    exit_cpu = children_cpu_s() - children_before - sum(r["cpu_total_s"] for r in results)
    server_cpu = None
    if pg is not None and server_before is not None:
        deadline = time.monotonic() + 5
        while pg.backends() > pg.idle and time.monotonic() < deadline:
            time.sleep(0.01)  # their server processes end and are reaped
        server_cpu = (pg.cpu_s() or 0.0) - server_before
    executed = [i for r in results for i in r["executed"]]
    distinct = set(executed)
    check = {"tool": row.tool, "location": location, "grid": row.grid}
    checked = subprocess.run(command(check, "--verify"), capture_output=True, text=True)
    if checked.returncode != 0:
        raise SystemExit(f"checking the store failed:\n{checked.stdout}{checked.stderr}")
    found = json.loads(checked.stdout.splitlines()[-1])
    messages = [line for log in logs for line in log.read_text().splitlines() if line.strip()]
    left = found.get("running", False) or Path(f"{location}.claims").exists()
    return Sample(
        wall_s=max(r["end"] for r in results) - started,
        cpu_s=sum(r["cpu_s"] for r in results),
        exit_cpu_s=exit_cpu,
        server_cpu_s=server_cpu,
        executions=[len(r["executed"]) for r in results],
        duplicates=len(executed) - len(distinct),
        missing=row.grid - len(distinct),
        recorded=found["recorded"],
        second_pass=found["second_pass"],
        claims_left=bool(left),
        messages=messages,
    )


def measure(row: Row, work: Path, pg: Postgres | None) -> None:
    """One repeat of a row, in a fresh directory (and a fresh table)."""
    home = Path(tempfile.mkdtemp(prefix=f"{row.tool}-{row.format}-{row.workers}-", dir=work))
    if row.format == "postgresql":
        assert pg is not None
        location = pg.location()
    elif row.tool == "stet":
        location = str(home / f"store{FORMATS[row.format]}")
    else:
        location = str(home / ("cache" if row.tool != "loop" else "done.csv"))
    server = pg if row.format == "postgresql" else None
    try:
        row.samples.append(run_once(row, location, home, server))
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if row.format == "postgresql" and pg is not None:
            pg.drop_tables()


if __name__ == "__main__":
    options = argparse.ArgumentParser(description="a process of parallel.py")
    options.add_argument("--worker")
    options.add_argument("--verify")
    args = options.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
    if args.verify:
        verify(json.loads(args.verify))
