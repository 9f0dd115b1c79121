"""A full reset leaves the directory as it was before the first run (issue 13).

The scenarios of the announcement's own tests (a reset of the default store, of a named
store, of one run, without and with a terminal to answer on), written anew, and what a
reset leaves beside the store in every file format.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from formats import FILE_FORMATS

import stet
from stet import _report


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


class _Terminal:
    """Standard input as a terminal: reset asks its question."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Answer reset's question with the strings put in the list, in turn."""
    answers: list[str] = []
    monkeypatch.setattr(sys, "stdin", _Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: answers.pop(0))
    yield answers


def recorder(store: str | Path = stet.DEFAULT_STORE) -> tuple[Any, list[int]]:
    calls: list[int] = []

    @stet.once(store=store)
    def run(x: int) -> None:
        calls.append(x)

    return run, calls


def test_a_reset_of_the_default_store_removes_its_file(tmp_path: Path) -> None:
    run, calls = recorder()
    run(1)
    stet.reset()
    assert os.listdir(tmp_path) == []
    run(1)
    assert calls == [1, 1]


@pytest.mark.parametrize("ext", FILE_FORMATS)
def test_a_full_reset_leaves_nothing_beside_the_store(tmp_path: Path, ext: str) -> None:
    store = tmp_path / "runs" / f"results.{ext}"
    run, calls = recorder(store)
    run(1)
    run(2)
    assert sorted(os.listdir(store.parent)) != []
    stet.reset(store)
    assert os.listdir(store.parent) == []
    run(2)  # the same process starts the store anew
    assert calls == [1, 2, 2]
    assert [r["x"] for r in stet.records(store)] == [2]
    stet.reset(store)
    assert os.listdir(store.parent) == []


def test_a_reset_of_one_run_keeps_the_store(tmp_path: Path) -> None:
    store = tmp_path / "results.csv"
    run, _ = recorder(store)
    run(1)
    run(2)
    stet.reset(store, {"x": "1"})
    assert [r["x"] for r in stet.records(store)] == [2]


def test_without_a_terminal_reset_does_not_ask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "results.csv"
    run, _ = recorder(store)
    run(5)
    capsys.readouterr()
    stet.reset(store)
    assert capsys.readouterr().out == f"[stet] Store cleared: {store}\n"
    assert not store.exists()


def test_on_a_terminal_yes_clears_the_store(
    tmp_path: Path, answering: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "results.csv"
    run, _ = recorder(store)
    run(1)
    answering.append("y")
    capsys.readouterr()
    stet.reset(store)
    assert not store.exists()
    assert capsys.readouterr().out == f"[stet] Store cleared: {store}\n"


def test_on_a_terminal_no_aborts(
    tmp_path: Path, answering: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "results.csv"
    run, calls = recorder(store)
    run(1)
    before = store.read_bytes()
    answering.append("n")
    capsys.readouterr()
    stet.reset(store)
    assert capsys.readouterr().out == "[stet] Aborted; nothing changed\n"
    assert store.read_bytes() == before
    run(1)
    assert calls == [1]


def test_no_to_a_partial_reset_still_says_nothing_changed(
    tmp_path: Path, answering: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "results.csv"
    run, _ = recorder(store)
    run(1)
    answering.append("n")
    capsys.readouterr()
    stet.reset(store, {"x": 1})
    assert capsys.readouterr().out == "[stet] Nothing changed\n"


def test_a_functions_reset_removes_the_store_when_it_is_the_only_function(
    tmp_path: Path,
) -> None:
    store = tmp_path / "results.csv"
    run, _ = recorder(store)
    run(1)
    run.reset()
    assert os.listdir(tmp_path) == []


def test_a_functions_reset_keeps_the_runs_of_another_function(tmp_path: Path) -> None:
    store = tmp_path / "results.csv"
    run, _ = recorder(store)

    @stet.once(store=store)
    def other(x: int) -> None:
        pass

    run(1)
    other(1)
    run.reset()
    records = stet.records(store)
    assert [(r["_stet_function"], r["x"]) for r in records] == [(other.__qualname__, 1)]


def test_a_full_reset_keeps_a_set_aside_torn_record(tmp_path: Path) -> None:
    """A torn line set aside in ``.torn`` is the user's to look at: a reset keeps it."""
    store = tmp_path / "results.csv"
    run, _ = recorder(store)
    run(1)
    with open(store, "a") as handle:
        handle.write("2,2026-")
    run(3)  # reads the store, sets the torn line aside
    torn = tmp_path / "results.csv.torn"
    assert torn.read_text() == "2,2026-\n"
    stet.reset(store)
    assert os.listdir(tmp_path) == ["results.csv.torn"]


def test_confirm_with_a_closed_standard_input_raises_eof_after_the_question(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(EOFError):
        _report.confirm("Clear all 1 run from s.csv?", True)
    assert capsys.readouterr().out == "[stet] Clear all 1 run from s.csv? [y/N] "
    assert _report.confirm("Clear all 1 run from s.csv?", None) is True  # never asks
