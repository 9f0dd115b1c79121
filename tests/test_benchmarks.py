"""The benchmark scripts still run (their numbers are read by people, not asserted), and
every table on the published page is one a script prints."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# Each runs a benchmark script (--quick) in full: minutes of CPU, so kept out of the
# everyday loop (-m "not stress") and run by the whole suite and CI.
pytestmark = pytest.mark.stress

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
FORMATS = ("csv", "jsonl", "json", "sqlite", "parquet")  # what --quick measures by default
PRINTED: dict[str, str] = {}  # what each script printed in this session, by script


def run(script: str, *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    PRINTED[script] = result.stdout
    return result.stdout


def raw_numbers(*paths: Path) -> dict[str, Any]:
    """The ``--json`` files of the parts of a split script, as one."""
    found: dict[str, Any] = {}
    for path in paths:
        found |= json.loads(path.read_text(encoding="utf-8"))
    return found


def table_rows(out: str, heading: str) -> list[list[str]]:
    """The cells of each row of the table under ``### heading`` (not its header, nor rule)."""
    section = out.split(f"### {heading}\n", 1)[1].split("\n### ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")][2:]
    return [[cell.strip() for cell in line.strip("| ").split(" | ")] for line in lines]


def test_overhead_quick_prints_its_tables() -> None:
    out = run("overhead.py", "--quick") + "\n\n" + run("formats.py", "--quick")
    for heading in ("### stet, messages off", "### Import time", "### Targets"):
        assert heading in out
    assert "| joblib |" in out
    assert "| diskcache |" in out
    assert "`import stet` loads: neither numpy nor pandas." in out
    # every format, at each --quick size and both distributions, in the formats table
    found = {(row[0], row[1], row[2]) for row in table_rows(out, "Formats")}
    sizes, distributions = ("1,000", "10,000"), ("grid", "random")
    assert found == {(f, n, v) for f in FORMATS for n in sizes for v in distributions}
    assert {row[0] for row in table_rows(out, "Targets by format")} == set(FORMATS)


def test_lock_prints_both_locks() -> None:
    out = run("lock.py")
    assert "| stet StoreLock" in out
    assert "| filelock" in out


def test_parallel_quick_partitions_the_grid_among_workers(tmp_path: Path) -> None:
    found = tmp_path / "out.json"
    out = run("parallel.py", "--quick", "--formats", "csv,sqlite", "--json", str(found))
    rows = json.loads(found.read_text(encoding="utf-8"))["rows"]
    workers, scenarios = (1, 2, 4), ("trivial", "sleep 1 ms")
    stet_rows = [r for r in rows if r["tool"] == "stet"]
    expected = {(f, "trivial", 1, False) for f in ("csv", "sqlite")}
    expected |= {(f, s, n, True) for f in ("csv", "sqlite") for s in scenarios for n in workers}
    assert {(r["format"], r["scenario"], r["workers"], r["claims"]) for r in stet_rows} == expected
    for row in stet_rows:
        assert row["samples"]
        for sample in row["samples"]:
            # every run of the grid executed by exactly one worker, recorded exactly once
            assert len(sample["executions"]) == row["workers"]
            assert sum(sample["executions"]) == row["grid"]
            assert sample["duplicates"] == sample["missing"] == 0
            assert sample["recorded"] == row["grid"] + row["workers"]  # + one warm-up each
            assert sample["second_pass"] == 0
            assert not sample["claims_left"]
            assert sample["messages"] == []
    peers = [r for r in rows if r["tool"] != "stet"]
    found_peers = {(r["tool"], r["scenario"], r["workers"]) for r in peers}
    tools = ("joblib", "diskcache", "loop")
    assert found_peers == {(t, s, n) for t in tools for s in scenarios for n in workers}
    for row in peers:
        for sample in row["samples"]:
            assert sum(sample["executions"]) == row["grid"] + sample["duplicates"]
            assert sample["missing"] == sample["second_pass"] == 0
    # the hand-written loop cannot see the other workers: every worker runs every run
    loop = next(
        r for r in peers if (r["tool"], r["scenario"], r["workers"]) == ("loop", "trivial", 4)
    )
    assert loop["samples"][0]["executions"] == [loop["grid"]] * 4
    for heading in ("Trivial body", "Claim overhead, one process", "Target", "Body sleeping"):
        assert f"### {heading}" in out


def test_sweep_quick_prints_its_tables_beside_the_peers(tmp_path: Path) -> None:
    found, resumed = tmp_path / "out.json", tmp_path / "resume.json"
    out = run("sweep.py", "--quick", "--formats", "csv,sqlite", "--json", str(found))
    out += "\n\n" + run("resume.py", "--quick", "--formats", "csv,sqlite", "--json", str(resumed))
    assert out.startswith("Measured ")
    assert " cores (" in out and "Python " in out  # the machine, as the other scripts print
    formats = ("csv", "sqlite")
    # the first table: every stet mode per format, the bar row, and the peers
    rows = table_rows(out, "Sweep of 10,000 trivial runs")
    named = {(row[0], row[1]) for row in rows}
    stet_modes = (
        "`stet.sweep(f, grid)`, in-process",
        "decorated loop, `for kw in combos: f(**kw)`",
        "`stet.sweep(f, grid, executor=ProcessPoolExecutor(2))`",
    )
    expected = {(mode, f) for mode in stet_modes for f in formats}
    expected.add(('`stet.sweep(f, grid, progress="always")`, bar to devnull', "csv"))
    expected |= {
        ("joblib `Parallel(n_jobs=2)` over `Memory(...).cache(f)`", "-"),
        ("`ProcessPoolExecutor(2).map(f, ...)`, no stet", "-"),
        ("`ProcessPoolExecutor(2).map(f, ..., chunksize=1000)`, no stet", "-"),
    }
    assert named == expected
    for how, _, wall, per_run, overhead, cpu, cpu_overhead, check in rows:
        assert float(wall) > 0
        assert float(per_run.replace(",", "")) > 0
        assert float(cpu.replace(",", "")) > 0
        in_process = "in-process" in how or "bar to devnull" in how
        for cell in (overhead, cpu_overhead):
            # the runner's overhead is a difference of two timings: only for in-process
            assert (cell == "-") != in_process
            if in_process:
                float(cell.replace(",", ""))
        assert check == "ok"  # every run recorded once; a rerun ran nothing
    # the resume table: both sizes of --quick, every format, in the process and a pool
    resumes = table_rows(out, "Resume at 99%")
    modes = ("in-process", "ProcessPoolExecutor(2)")
    assert {(r[0], r[1], r[2]) for r in resumes} == {
        (f, n, m) for f in formats for n in ("10,000", "100,000") for m in modes
    }
    for row in resumes:
        median, best = row[3].rstrip("]").split(" [")
        assert 0 < float(best) <= float(median)
        opened, scanned, total, from_start, import_ms = map(float, row[4:9])
        assert 0 < opened + scanned <= float(median) + 0.002  # both before the first run
        assert float(median) <= total
        assert float(median) < from_start
        assert import_ms > 0
        assert row[9] == "ok"  # the resume found the 99% done and ran exactly the rest
    targets = table_rows(out, "Targets")
    assert {(r[0], r[1]) for r in targets} == {(f, m) for f in formats for m in modes}
    for row in targets:
        assert row[2] == "3"
        assert float(row[3]) <= float(row[4])
        assert row[5] in ("yes", "best only", "**no**")
    # the raw numbers
    raw = raw_numbers(found, resumed)
    assert raw["settings"] == {"points": 10_000, "resume_points": [10_000, 100_000], "repeats": 1}
    assert all(len(row["walls"]) == len(row["cpus"]) == 1 for row in raw["rows"])
    assert all(len(row["samples"]) == 1 for row in raw["resumes"])


def test_results_quick_keeps_values_and_loads_every_record(tmp_path: Path) -> None:
    found, loaded = tmp_path / "out.json", tmp_path / "loading.json"
    out = run("results.py", "--quick", "--formats", "csv,sqlite", "--json", str(found))
    out += "\n\n" + run("loading.py", "--quick", "--formats", "csv,sqlite", "--json", str(loaded))
    assert out.startswith("Measured ")
    assert " cores (" in out and "Python " in out  # the machine, as the other scripts print
    formats = ("csv", "sqlite")
    kept, bare = "`@stet.once(results=True)`", "`@stet.once`, no results (skip returns None)"
    # per call: stet with results (float and dict) and without, per format, and the peers
    rows = table_rows(out, "Per call: 1,000 calls, trivial body")
    expected = {(kept, f, r) for f in formats for r in ("float", "dict of 3 floats")}
    expected |= {(bare, f, "float") for f in formats}
    peers = ("`joblib.Memory(...).cache`", "`diskcache.Cache(...).memoize()`")
    expected |= {(p, "-", r) for p in peers for r in ("float", "dict of 3 floats")}
    assert {(row[0], row[1], row[2]) for row in rows} == expected
    for how, _, _, record, skip, cost_record, cost_skip, plain, check in rows:
        for cell in (record, skip, plain):
            assert float(cell.replace(",", "")) > 0
        # the cost of results is a difference of two timings: only on the results rows
        assert (cost_record == "-") == (cost_skip == "-") == (how != kept)
        if how == kept:
            float(cost_record.replace(",", ""))
            float(cost_skip.replace(",", ""))
        # every skip or hit ran no body and gave back what the call returned when it ran
        assert check == ("None: ok" if how == bare else "the values: ok")
    # restart: every format, with results and without, from a store stet wrote
    restarts = table_rows(out, "Restart: the first call on a store of 10,000 records")
    assert [row[0] for row in restarts] == list(formats)
    for row in restarts:
        assert float(row[1]) > 0 and float(row[2]) > 0
        assert int(row[4]) > 0 and int(row[5]) > 0
        assert float(row[7]) > 0 and float(row[8]) > 0
        assert row[9] == "ok"  # the stored result (None without results), no body run
    # loading: pandas.read_csv beside stet.load and stet.records of every format
    loads = table_rows(out, "Loading 10,000 records")
    readers = {(row[0], row[1]) for row in loads}
    assert readers == {
        ("`pandas.read_csv(path)`", "csv"),
        ("`pandas.read_csv(path)`, then `to_datetime(..., utc=True)`", "csv"),
    } | {(how, f) for how in ("`stet.load(store)`", "`stet.records(store)`") for f in formats}
    for row in loads:
        median, best = row[2].rstrip("]").split(" [")
        assert 0 < float(best) <= float(median)
        assert row[6] == "ok"  # every record, in order, typed, each result as computed
    assert next(row for row in loads if row[0] == "`pandas.read_csv(path)`")[5] == "1.0x"
    # the raw numbers
    raw = raw_numbers(found, loaded)
    assert raw["settings"] == {"calls": 1_000, "records": 10_000, "skip_calls": 1_000, "repeats": 1}
    assert raw["formats"] == list(formats)
    assert set(raw["fills"]) == set(formats)
    for group in ("calls", "restarts", "loads"):
        assert all(len(row["samples"]) == 1 for row in raw[group])


def test_outputs_quick_measures_an_empty_outputs_directory_and_arrays(tmp_path: Path) -> None:
    found = tmp_path / "outputs.json"
    out = run("outputs.py", "--quick", "--json", str(found))
    assert out.startswith("Measured ") and "numpy " in out
    empty = table_rows(out, "An empty outputs directory: 400 runs (60 with fsync), trivial body")
    assert [(row[0], row[1]) for row in empty] == [
        (f, fsync) for f in ("csv", "sqlite") for fsync in ("off", "on")
    ]
    for _, _, bare, kept, cost, floor, beyond, within, check in empty:
        assert float(bare.replace(",", "")) > 0 and float(kept.replace(",", "")) > 0
        assert float(floor.replace(",", "")) > 0
        float(cost.replace(",", ""))  # a difference: any sign
        float(beyond.replace(",", ""))
        assert within == ("yes" if float(cost.replace(",", "")) <= 100 else "no")
        assert check == "ok"  # every record, every run directory with its _stet_run.json
    arrays = table_rows(out, "A NumPy array per run, CSV store")
    assert [(row[0], row[1], row[2]) for row in arrays] == [
        (size, runs, fsync)
        for size, runs in (("1 MB", "20"), ("10 MB", "4"))
        for fsync in ("off", "on")
    ]
    for row in arrays:
        assert float(row[3].replace(",", "")) > 0 and float(row[4].replace(",", "")) > 0
        assert float(row[7].replace(",", "")) > 0  # results=True: the array returned
        float(row[8].replace(",", ""))
        assert row[9] == "ok"  # each run's array whole in its directory, each record there
    raw = json.loads(found.read_text(encoding="utf-8"))
    assert raw["settings"]["sizes_mb"] == [1, 10] and raw["formats"] == ["csv", "sqlite"]
    assert all(len(row["samples"]) == 1 for row in raw["empty"] + raw["arrays"])


def page_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stet_bench_page", BENCHMARKS / "page.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_table_on_the_page_is_one_its_script_prints() -> None:
    page = page_module()
    text = page.PAGE.read_text(encoding="utf-8")
    blocks = page.blocks(text)
    assert list(blocks) == list(page.SCRIPTS)  # every script has its block, in order
    for script, body in blocks.items():
        printed = PRINTED.get(script) or run(script, "--quick")  # the tests above ran most
        assert page.tables(body) == page.tables(printed), script
        assert body.lstrip().startswith("Measured "), script  # the machine line and date
    outside = page.BLOCK.sub("", text)
    numeric = [line for line in outside.splitlines() if line.startswith("| ---") and ":" in line]
    assert numeric == []  # a table of figures outside the blocks: no script would renew it
