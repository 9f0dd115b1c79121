"""``reset`` of runs with outputs: their directories are moved aside into
``data/.stet-reset/<time>/`` after their records are removed, deleted only with
``purge=True``; failure records' set-aside directories too; a directory already gone is
said, not an error. In every format, with real directories.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

import stet

STAMP = r"\d{8}T\d{6}\.\d{9}Z"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def sweep(location: str) -> Any:
    """Four completed runs with outputs and two recorded failures (alpha=0.3)."""

    @stet.once(store=location, outputs="data", failures="record", verbose=False, name="simulate")
    def simulate(alpha: float, seed: int) -> None:
        (stet.output_dir() / "trace.txt").write_text(f"{alpha} {seed}\n")
        if alpha > 0.25:
            raise ValueError("too big")

    for alpha in (0.1, 0.2, 0.3):
        for seed in (1, 2):
            with contextlib.suppress(ValueError):
                simulate(alpha, seed)
    return simulate


def run_dir(tmp_path: Path, alpha: float, seed: int) -> Path:
    return tmp_path / "data" / "simulate" / f"alpha={alpha},seed={seed}"


def reset_place(tmp_path: Path) -> Path:
    """The one ``data/.stet-reset/<time>/`` there is."""
    (place,) = (tmp_path / "data" / ".stet-reset").iterdir()
    assert re.fullmatch(STAMP, place.name), place.name
    return place


def said(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("[stet]")]


def test_reset_moves_the_directories_of_removed_runs_aside(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep(location)
    capsys.readouterr()
    stet.reset(location, {"alpha": 0.1}, confirm=False)
    assert [(r["alpha"], r["seed"]) for r in stet.records(location)] == [(0.2, 1), (0.2, 2)]
    assert not run_dir(tmp_path, 0.1, 1).exists() and not run_dir(tmp_path, 0.1, 2).exists()
    assert run_dir(tmp_path, 0.2, 1).is_dir() and run_dir(tmp_path, 0.2, 2).is_dir()
    place = reset_place(tmp_path)
    for seed in (1, 2):
        moved = place / "simulate" / f"alpha=0.1,seed={seed}"
        assert (moved / "trace.txt").read_text() == f"0.1 {seed}\n"
        assert (moved / "_stet_run.json").is_file()
    lines = said(capsys)
    assert lines[-2].startswith("[stet] Removed 2 runs matching alpha=0.1 from ")
    assert lines[-1] == f"[stet] Moved 2 output directories aside to data/.stet-reset/{place.name}/"


def test_a_reset_run_runs_again_into_a_fresh_directory(location: str, tmp_path: Path) -> None:
    simulate = sweep(location)
    simulate.reset(alpha=0.2, seed=1, confirm=False)
    simulate(0.2, 1)  # runs again: no directory in its way
    assert (run_dir(tmp_path, 0.2, 1) / "trace.txt").read_text() == "0.2 1\n"
    moved = reset_place(tmp_path) / "simulate" / "alpha=0.2,seed=1" / "trace.txt"
    assert moved.read_text() == "0.2 1\n"
    assert len(stet.records(location, {"alpha": 0.2})) == 2


def test_purge_deletes_them(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulate = sweep(location)
    capsys.readouterr()
    simulate.reset(seed=2, purge=True, confirm=False)
    assert not run_dir(tmp_path, 0.1, 2).exists() and not run_dir(tmp_path, 0.2, 2).exists()
    assert run_dir(tmp_path, 0.1, 1).is_dir()
    assert not (tmp_path / "data" / ".stet-reset").exists()
    failures = stet.records(location, failed=True)
    assert [r["seed"] for r in failures] == [1]  # the failure of seed 2 went too
    assert len(list((tmp_path / "data" / ".stet-failed").iterdir())) == 1
    assert said(capsys)[-1] == "[stet] Deleted 3 output directories"


def test_failure_records_take_their_set_aside_directories_with_them(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep(location)
    failed_dir = tmp_path / "data" / ".stet-failed"
    assert len(list(failed_dir.iterdir())) == 2
    capsys.readouterr()
    stet.reset(location, failed=True, confirm=False)
    assert stet.records(location, failed=True) == []
    assert len(stet.records(location)) == 4
    assert all(run_dir(tmp_path, a, s).is_dir() for a in (0.1, 0.2) for s in (1, 2))
    assert list(failed_dir.iterdir()) == []  # their <time>/<function>/ went with them
    place = reset_place(tmp_path)
    for seed in (1, 2):
        assert (place / "simulate" / f"alpha=0.3,seed={seed}" / "trace.txt").is_file()
    lines = said(capsys)
    assert lines[-2].startswith("[stet] Removed 2 failure records from ")
    assert lines[-1] == f"[stet] Moved 2 output directories aside to data/.stet-reset/{place.name}/"


def test_a_full_reset_moves_every_directory_aside(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep(location)
    capsys.readouterr()
    stet.reset(location, confirm=False)
    if location.startswith("postgresql"):
        assert stet.records(location) == []
    else:
        assert not Path(location).exists()  # the store went, with its files
    assert list((tmp_path / "data" / "simulate").iterdir()) == []
    place = reset_place(tmp_path)
    moved = sorted(p.name for p in (place / "simulate").iterdir())
    assert moved == [f"alpha={a},seed={s}" for a in (0.1, 0.2, 0.3) for s in (1, 2)]
    assert said(capsys)[-1] == (
        f"[stet] Moved 6 output directories aside to data/.stet-reset/{place.name}/"
    )


def test_a_directory_already_gone_is_said_not_an_error(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    sweep(location)
    shutil.rmtree(run_dir(tmp_path, 0.1, 1))
    capsys.readouterr()
    stet.reset(location, {"seed": 1, "alpha": 0.1}, confirm=False)
    assert said(capsys)[-1] == "[stet] 1 output directory was already gone; nothing to move"
    assert len(stet.records(location)) == 3
    shutil.rmtree(run_dir(tmp_path, 0.2, 1))
    stet.reset(location, {"seed": 1}, confirm=False)
    place = reset_place(tmp_path)
    assert said(capsys)[-1] == (
        f"[stet] Moved 1 output directory aside to data/.stet-reset/{place.name}/; "
        "1 output directory was already gone"
    )
    assert (place / "simulate" / "alpha=0.3,seed=1").is_dir()


def test_the_question_says_where_the_directories_go_and_no_changes_nothing(
    location: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sweep(location)
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    stet.reset(location, {"seed": 2}, confirm=True)
    out = capsys.readouterr().out
    assert re.search(
        r"\[stet\] Remove 3 runs matching seed=2 from .*, and move their 3 output "
        r"directories aside to data/\.stet-reset/\? \[y/N\] ",
        out,
    ), out
    assert "[stet] Nothing changed" in out
    assert run_dir(tmp_path, 0.1, 2).is_dir() and len(stet.records(location)) == 4
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    stet.reset(location, {"seed": 2}, confirm=True, purge=True)
    out = capsys.readouterr().out
    assert ", and delete their 3 output directories (purge)? [y/N] " in out
    assert not (tmp_path / "data" / ".stet-reset").exists()


def test_runs_without_outputs_say_nothing_of_directories(
    location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    @stet.once(store=location, verbose=False, name="plain")
    def plain(n: int) -> None:
        pass

    plain(1)
    plain(2)
    capsys.readouterr()
    stet.reset(location, {"n": 1}, confirm=False, purge=True)
    lines = said(capsys)
    assert len(lines) == 1 and lines[0].startswith("[stet] Removed 1 run matching n=1 from ")
