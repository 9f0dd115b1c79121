"""The one list of formats: ``register`` adds to it, and the docs and the command line's
help derive from it (so they cannot go stale)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tsvformat

import stet
import stet.formats
from stet.formats.base import StoreFormat

ROOT = Path(__file__).resolve().parents[1]
BUILT_IN = [".csv", ".jsonl", ".json", ".sqlite", ".db", ".parquet", "postgresql://"]


def test_the_registry_holds_stets_formats() -> None:
    assert set(BUILT_IN) <= set(stet.formats.extensions())
    assert stet.formats.format_names()[:6] == [
        "csv", "jsonl", "json", "sqlite", "parquet", "postgresql",
    ]  # fmt: skip


def test_the_format_page_names_every_registered_format() -> None:
    page = (ROOT / "docs" / "how-to" / "choose-a-format.md").read_text()
    own = [e for e in stet.formats.extensions() if e != ".tsv"]  # .tsv: the tests' own
    assert [e for e in own if f"`{e}`" not in page] == []


def test_the_command_line_help_names_every_file_extension() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stet", "status", "--help"], capture_output=True, text=True
    )
    text = " ".join(done.stdout.split())
    assert done.returncode == 0
    assert [e for e in stet.formats.extensions(urls=False) if e != ".tsv" and e not in text] == []


def test_a_registered_format_opens_its_stores(tmp_path: Path) -> None:
    """The in-test TSV format: one module, one ``register`` line (see test_contract.py)."""
    assert stet.formats.FORMATS[".tsv"].cls is tsvformat.TsvFile

    ran: list[object] = []

    @stet.once(store=tmp_path / "runs.tsv", verbose=False)
    def f(x: object) -> None:
        ran.append(x)

    f(1), f("a\tb"), f(1)
    assert ran == [1, "a\tb"]
    assert (tmp_path / "runs.tsv").read_text().splitlines()[0].split("\t")[0] == '"x"'
    assert [r["x"] for r in stet.records(tmp_path / "runs.tsv")] == [1, "a\tb"]


def test_register_refuses_what_is_not_an_extension() -> None:
    with pytest.raises(ValueError, match="neither an extension"):
        stet.formats.register("tsv", tsvformat.TsvFile)
    with pytest.raises(ValueError, match="module:Class"):
        stet.formats.register(".tsv2", "tsvformat.TsvFile")


def test_the_format_interface_is_narrow() -> None:
    """At most eight public members a format author implements."""
    members = {n for n in dir(StoreFormat) if not n.startswith("_")}
    members |= {n for n in StoreFormat.__annotations__ if not n.startswith("_")}
    assert members == {"name", "site", "generation", "read", "append", "rewrite", "settle", "close"}
