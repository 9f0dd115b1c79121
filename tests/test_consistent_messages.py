"""Clear, consistent messages (issue 13, promise 8): what stet says agrees with itself."""

from __future__ import annotations

from pathlib import Path

import pytest

import stet


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def stet_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[stet]")]


# -- status of a store that does not exist


def test_status_of_a_missing_store_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    stet.status("nowhere.csv")
    assert capsys.readouterr().out == "[stet] No store at nowhere.csv: nothing recorded yet\n"
    assert not Path("nowhere.csv").exists()


def test_a_functions_status_before_its_first_run_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @stet.once(store="later.csv")
    def f(n: int) -> None:
        pass

    f.status()
    f.status(grid={"n": [1, 2]})
    assert (
        capsys.readouterr().out.splitlines()
        == ["[stet] No store at later.csv: nothing recorded yet"] * 2
    )
