"""Outputs in ``status`` (counts and sizes, what is set aside), ``stet show`` (the path
column) and ``convert`` (the new store's records name the same directories, in every
format, into another directory, to and from PostgreSQL)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from formats import FORMATS

import stet
from stet._admin import status_data
from stet._registry import get_store
from stet._reportoutputs import size
from stet.cli import main

MB = 1_000_000


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def sweep(location: str, big: int = MB) -> Any:
    """Four completed runs of ``big`` bytes of outputs each, two failures kept aside."""

    @stet.once(store=location, outputs="data", failures="record", verbose=False, name="simulate")
    def simulate(alpha: float, seed: int) -> None:
        (stet.output_dir() / "trace.bin").write_bytes(b"x" * big)
        if alpha > 0.25:
            raise ValueError("too big")

    for alpha in (0.1, 0.2, 0.3):
        for seed in (1, 2):
            with contextlib.suppress(ValueError):
                simulate(alpha, seed)
    return simulate


def said(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("[stet]")]


# ------------------------------------------------------------------------ status


def test_size_reads_in_powers_of_1000() -> None:
    assert [size(n) for n in (0, 999, 1000, 12_345, 999_949, 4_000_800, 1_300_000_000)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "12 kB",
        "1000 kB",
        "4.0 MB",
        "1.3 GB",
    ]
    assert size(2 * 10**18) == "2000 PB"


def test_status_counts_run_directories_their_size_and_what_is_set_aside(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulate = sweep(location)
    outputs = status_data(location)["outputs"]
    facts = outputs["simulate"]
    assert facts["root"] == str(tmp_path / "data")
    assert (facts["runs"], facts["missing"]) == (4, 0)
    assert 4 * MB < facts["bytes"] < 4 * MB + 4 * 1000  # and four small _stet_run.json
    assert facts["set_aside"] == {"failed": {"runs": 2, "bytes": 2 * MB}}
    capsys.readouterr()
    stet.status(location)
    lines = said(capsys)
    at = lines.index("[stet] Outputs of simulate: 4 output directories, 4.0 MB, in data")
    assert lines[at + 1] == "[stet]   set aside in data/.stet-*: 2 failed (2.0 MB)"
    simulate.status()
    assert "[stet] Outputs of simulate: 4 output directories, 4.0 MB, in data" in said(capsys)

    stet.reset(location, {"alpha": 0.1, "seed": 1}, confirm=False)
    shutil.rmtree(tmp_path / "data" / "simulate" / "alpha=0.2,seed=1")
    capsys.readouterr()
    stet.status(location)
    lines = said(capsys)
    at = lines.index(
        "[stet] Outputs of simulate: 2 output directories, 2.0 MB, in data "
        "(1 named by records but missing)"
    )
    assert (
        lines[at + 1] == "[stet]   set aside in data/.stet-*: 2 failed (2.0 MB), 1 reset (1.0 MB)"
    )


def test_status_of_a_store_without_outputs_has_no_outputs_line(
    location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    @stet.once(store=location, verbose=False, name="plain")
    def plain(n: int) -> None:
        pass

    plain(1)
    assert status_data(location)["outputs"] == {}
    capsys.readouterr()
    stet.status(location)
    assert not any("Outputs" in line or "set aside" in line for line in said(capsys))


KILLED = """
import os, signal, stet

@stet.once(store="runs.csv", outputs="data", name="simulate")
def simulate(alpha, seed):
    (stet.output_dir() / "trace.bin").write_bytes(b"y" * 3000)
    os.kill(os.getpid(), signal.SIGKILL)

simulate(0.1, 1)
"""


def test_status_counts_a_killed_runs_leftovers_once_they_are_set_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "killed.py").write_text(textwrap.dedent(KILLED))
    done = subprocess.run([sys.executable, "killed.py"], cwd=tmp_path, capture_output=True)
    assert done.returncode == -signal.SIGKILL
    sweep("runs.csv", big=10)  # its first run sets the dead process's staging aside
    aside = status_data("runs.csv")["outputs"]["simulate"]["set_aside"]
    assert aside["interrupted"] == {"runs": 1, "bytes": 3000}
    capsys.readouterr()
    stet.status("runs.csv")
    assert "[stet]   set aside in data/.stet-*: 2 failed (20 B), 1 interrupted (3.0 kB)" in said(
        capsys
    )


# ------------------------------------------------------------------------ show


def test_show_lists_each_runs_directory_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep("runs.csv", big=1)
    capsys.readouterr()
    assert main(["show", "runs.csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["alpha", "seed", "_stet_timestamp", "output"]
    assert [line.split()[-1] for line in lines[1:]] == [
        f"data/simulate/alpha={a},seed={s}" for a in (0.1, 0.2) for s in (1, 2)
    ]
    assert main(["show", "runs.csv", "--failed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "output"
    assert all(line.split()[-1].startswith("data/.stet-failed/") for line in lines[1:])


def test_show_gives_an_absolute_path_outside_the_working_directory_and_keeps_a_column_named_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    @stet.once(store="runs.csv", outputs="data", verbose=False, name="g")
    def g(output: int) -> None:
        pass

    g(1)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()
    assert main(["show", str(tmp_path / "runs.csv")]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["output", "_stet_timestamp", "_stet_output"]
    assert row.split()[-1] == str(tmp_path / "data" / "g" / "output=1")


# ------------------------------------------------------------------------ convert


def raw_outputs(location: str) -> list[str]:
    """The ``_stet_output`` cells as the store holds them."""
    snapshot = get_store(location).snapshot()
    at = snapshot.header.index("_stet_output")
    return [str(row[at]) for row in snapshot.rows]


def test_convert_keeps_the_directories_in_every_format(
    location: str, tmp_path: Path, postgres_store: str
) -> None:
    sweep(location, big=1)
    before = stet.records(location) + stet.records(location, failed=True)
    pairs = list(stet.outputs(location))
    for target in [str(tmp_path / f"copy.{ext}") for ext in FORMATS if ext != "postgresql"] + [
        postgres_store
    ]:
        if target == location:
            continue
        stet.convert(location, target)
        after = stet.records(target) + stet.records(target, failed=True)
        assert [r["_stet_output"] for r in after] == [r["_stet_output"] for r in before]
        assert list(stet.outputs(target)) == pairs
        raw = raw_outputs(target)
        if target.startswith("postgresql"):
            assert all(os.path.isabs(cell) for cell in raw)
        else:  # below the new store's directory: relative, as the core writes it
            assert raw[0] == "data/simulate/alpha=0.1,seed=1"


def test_convert_into_another_directory_re_bases_the_paths(tmp_path: Path) -> None:
    sweep("runs.csv", big=1)
    (tmp_path / "other").mkdir()
    stet.convert("runs.csv", "other/copy.jsonl")
    assert raw_outputs("other/copy.jsonl")[0] == "../data/simulate/alpha=0.1,seed=1"
    assert list(stet.outputs("other/copy.jsonl")) == list(stet.outputs("runs.csv"))
    # the copy's function still skips its runs, and puts a new one beside them
    ran = []

    @stet.once(store="other/copy.jsonl", outputs="data", verbose=False, name="simulate")
    def simulate(alpha: float, seed: int) -> None:
        ran.append((alpha, seed))

    simulate(0.1, 1)
    assert ran == []
    with (tmp_path / "runs.csv").open() as file:
        cells = [row["_stet_output"] for row in csv.DictReader(file)]
    assert cells[0] == "data/simulate/alpha=0.1,seed=1"  # the source is unchanged


def test_convert_from_postgresql_makes_paths_relative_only_below_the_new_store(
    postgres_store: str, tmp_path: Path
) -> None:
    sweep(postgres_store, big=1)
    raw = raw_outputs(postgres_store)
    assert raw[0] == str(tmp_path / "data" / "simulate" / "alpha=0.1,seed=1")
    stet.convert(postgres_store, "here.csv")
    assert raw_outputs("here.csv")[0] == "data/simulate/alpha=0.1,seed=1"
    (tmp_path / "other").mkdir()
    stet.convert(postgres_store, "other/there.csv")
    assert raw_outputs("other/there.csv")[0] == raw[0]  # outside it: absolute, as it was
    for copy in ("here.csv", "other/there.csv"):
        assert list(stet.outputs(copy)) == list(stet.outputs(postgres_store))
    with (tmp_path / "here.csv").open() as file:
        assert json.dumps(next(csv.DictReader(file))["_stet_output"]).startswith('"data/')
