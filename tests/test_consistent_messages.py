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


# -- store paths: ~ and a trailing /


def test_a_tilde_in_a_store_path_is_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))

    @stet.once(store="~/runs.csv")
    def f(n: int) -> None:
        pass

    f(1)
    assert (home / "runs.csv").is_file()
    assert not (tmp_path / "~").exists()
    assert [r["n"] for r in stet.records("~/runs.csv")] == [1]
    capsys.readouterr()
    stet.status("~/runs.csv")
    assert "[stet] 1 completed experiment recorded" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("given", "meant"), [("results/", "results/runs.csv"), ("runs.parquet/", "runs.parquet")]
)
def test_a_store_path_ending_in_a_slash_is_refused(given: str, meant: str) -> None:
    message = f"store path '{given}' ends in '/'.*such as '{meant}'"
    with pytest.raises(ValueError, match="^@stet.once: the " + message):
        stet.once(store=given)(lambda n: None)
    for read in (stet.status, stet.records, stet.reset):
        with pytest.raises(ValueError, match=message):
            read(given)
    assert list(Path().iterdir()) == []
