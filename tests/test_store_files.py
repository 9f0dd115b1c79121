"""Nothing lost, and every store opens (issue 13): a cell of any size, a parameter named
``result``, a store reached through a symbolic link.

Real files, a real PostgreSQL server and real processes; nothing is mocked.
"""

from __future__ import annotations

import csv
import os
import secrets
from pathlib import Path

import outside
import pytest
from formats import FILE_FORMATS, FORMATS
from probes import Driver, wait_until
from test_contract import python, ran, start

import stet

BIG = 10 * 1024 * 1024  # characters: a cell of 10 MB


def new_store(request: pytest.FixtureRequest, fmt: str, directory: Path) -> str:
    if fmt == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
        return f"{url}{'&' if '?' in url else '?'}table=t_{secrets.token_hex(5)}"
    return str(directory / f"runs.{fmt}")


# ---------------------------------------------------------------- a cell of any size

BIG_VALUE = """
big = ("x," * (int(sys.argv[2]) // 2)) + '"quoted"'  # commas and quotes: a quoted CSV cell

@stet.once(store=store)
def f(text, n):
    print("ran", len(text), n)

f(big, 1)
f("small", 2)
import csv
print("limit", csv.field_size_limit())
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_cell_of_10_mb_reads_back_in_every_format(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str
) -> None:
    """Over the csv module's field limit (131,072 characters) a CSV store could not be
    opened again; every format reads such a cell back, and the limit is left as it was."""
    store = new_store(request, fmt, tmp_path)
    first = python(tmp_path, BIG_VALUE, store, str(BIG))
    assert ran(first) == [f"{BIG + 8} 1", "5 2"]
    again = python(tmp_path, BIG_VALUE, store, str(BIG))
    assert ran(again) == []
    assert "limit 131072" in again
    found = stet.records(store)
    assert [len(r["text"]) for r in found] == [BIG + 8, 5]
    assert found[0]["text"].endswith('x,"quoted"')
    assert list(stet.load(store)["text"].str.len()) == [BIG + 8, 5]
    assert csv.field_size_limit() == 131072
    status = outside.run_cli(["status", store], tmp_path)
    assert "2 completed experiments recorded" in status.stdout, status.stderr
    show = outside.run_cli(["show", store], tmp_path)
    assert show.returncode == 0 and "small" in show.stdout, show.stderr


def test_the_users_own_csv_field_limit_is_left_alone(tmp_path: Path) -> None:
    """stet raises the process-wide limit only for its own parse of a long cell, and puts
    back the user's value, whatever it was."""
    store = tmp_path / "runs.csv"
    python(tmp_path, BIG_VALUE, str(store), "300000")
    before = csv.field_size_limit(1000)
    try:
        assert [len(r["text"]) for r in stet.records(store)] == [300008, 5]
        assert csv.field_size_limit() == 1000
        with pytest.raises(csv.Error, match="field limit"):
            list(csv.reader([f'"{"y" * 2000}"']))  # the user's own code: still their limit
    finally:
        csv.field_size_limit(before)


def test_a_numpy_array_of_30000_elements_in_a_csv_store(tmp_path: Path) -> None:
    code = """
import numpy as np

@stet.once(store=store)
def fit(weights):
    print("ran", weights.size)

fit(np.arange(30_000) / 7)
fit(np.arange(30_000) / 7)
"""
    assert ran(python(tmp_path, code, str(tmp_path / "runs.csv"))) == ["30000"]
    assert ran(python(tmp_path, code, str(tmp_path / "runs.csv"))) == []


# ---------------------------------------------------------------- no record dropped

RESULT_PARAMETER = """
@stet.once(store=store, verbose=False)
def f(n, result):
    print("ran", n, result)

for label in "abc":
    f(1, label)
print("stored", len(stet.records(store)))
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_parameter_named_result_keeps_every_record(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str
) -> None:
    """SQLite's unique index left out the columns it took for results, so f(1, "b") and
    f(1, "c") were dropped without a word and ran again after every restart."""
    store = new_store(request, fmt, tmp_path)
    first = python(tmp_path, RESULT_PARAMETER, store)
    assert ran(first) == ["1 a", "1 b", "1 c"]
    assert "stored 3" in first
    again = python(tmp_path, RESULT_PARAMETER, store)
    assert ran(again) == []
    assert "stored 3" in again


@pytest.mark.parametrize("fmt", FORMATS)
def test_results_and_a_parameter_named_result_of_another_function(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str
) -> None:
    """Two functions in one store, one keeping its results: every run is kept once."""
    code = """
@stet.once(store=store, results=True, verbose=False)
def square(n):
    print("ran square", n)
    return n * n

@stet.once(store=store, verbose=False)
def label(n, result):
    print("ran label", n, result)

for n in range(3):
    square(n)
    label(n, "x")
    label(n, "y")
print("stored", len(stet.records(store)))
"""
    store = new_store(request, fmt, tmp_path)
    assert len(ran(python(tmp_path, code, store))) == 9
    again = python(tmp_path, code, store)
    assert ran(again) == []
    assert "stored 9" in again


# ---------------------------------------------------------------- a symbolic link

LINKED = """
who = sys.argv[2]

@stet.once(store=store, verbose=False)
def step(who, n):
    print("ran", who, n, flush=True)

@stet.once(store=store, verbose=False)
def other(who, n, extra):  # a second function, with a new column: a rewrite in CSV
    print("ran other", who, n, flush=True)

for n in range(40):
    step(who, n)
    if n % 10 == 5:
        other(who, n, "x")
"""


def _linked_store(tmp_path: Path, fmt: str) -> tuple[Path, Path]:
    real = tmp_path / "real" / f"s.{fmt}"
    real.parent.mkdir()
    link = tmp_path / f"link.{fmt}"
    link.symlink_to(real, target_is_directory=fmt == "parquet")
    return link, real


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_a_store_through_a_symbolic_link_is_one_store(tmp_path: Path, fmt: str) -> None:
    """With ``link -> real/s``, a rewrite through the link replaced the link by a file,
    and the lock, owner and claims files sat beside the link: two stores, two locks.
    Two processes at once, one through the link, one through the real path."""
    link, real = _linked_store(tmp_path, fmt)
    runs = [start(tmp_path, LINKED, str(path), who) for path, who in ((link, "A"), (real, "B"))]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert sorted(len(ran(output)) for output in outputs) == [44, 44]
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link." + fmt, "real"]
    found = stet.records(real, function="step")
    assert sorted((r["who"], r["n"]) for r in found) == sorted(
        (who, n) for who in "AB" for n in range(40)
    )
    assert len(stet.records(link, function="other")) == 8
    again = [python(tmp_path, LINKED, str(path), who) for path, who in ((real, "A"), (link, "B"))]
    assert [ran(output) for output in again] == [[], []]


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_a_reset_through_a_symbolic_link_keeps_the_link(tmp_path: Path, fmt: str) -> None:
    link, real = _linked_store(tmp_path, fmt)
    python(tmp_path, LINKED, str(link), "A")
    stet.reset(link, {"n": 3}, confirm=False)
    assert link.is_symlink()
    assert ran(python(tmp_path, LINKED, str(real), "A")) == ["A 3"]
    assert len(stet.records(link, function="step")) == 40


# ---------------------------------------------------------------- a Parquet dataset while written


def plain_count(store: Path) -> int:
    """How many records plain Parquet readers see in the store's directory (pandas and
    DuckDB must agree); 0 while it holds no part yet."""
    import duckdb
    import pandas as pd
    import pyarrow.dataset

    if not any(store.glob("*.parquet")):
        return 0
    seen = len(pd.read_parquet(store))
    assert pyarrow.dataset.dataset(store).count_rows() == seen
    query = f"SELECT count(*) FROM read_parquet('{store}/**')"
    assert duckdb.sql(query).fetchall() == [(seen,)]
    return seen


KEEP_RUNNING = """
import stet.formats.journaled as journaled
journaled.FLUSH_AFTER = float(sys.argv[2])

@stet.once(store=store, verbose=False)
def point(i):
    return i

for i in range(25):
    point(i)
print("recorded", flush=True)
while not os.path.exists("stop"):  # alive, never calling stet again: no exit, no settle
    time.sleep(0.01)
"""


def test_a_plain_reader_sees_the_records_of_a_process_that_goes_on(tmp_path: Path) -> None:
    """The records waited in the journal until a threshold or the writer's exit; now a
    background compaction puts them in a part ``FLUSH_AFTER`` seconds after they were
    recorded, while the writer lives on (here 0.2 s, to keep the test short)."""
    store = tmp_path / "runs.parquet"
    writer = Driver(
        "import os, sys, time, stet\nstore = sys.argv[1]\n" + KEEP_RUNNING,
        tmp_path,
        str(store),
        "0.2",
    )
    try:
        wait_until(lambda: "recorded" in writer.output(), writer)
        wait_until(lambda: plain_count(store) == 25, writer)
        assert sorted(p.name for p in store.iterdir()) == sorted(
            p.name for p in store.glob("part-*.parquet")
        )
    finally:
        (tmp_path / "stop").touch()
        writer.finish()


@pytest.mark.parametrize("reader", ["status", "load", "records", "sweep"])
def test_every_record_is_in_the_parts_once_status_load_or_a_sweep_returns(
    tmp_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the notebook that just ran a sweep, ``pd.read_parquet`` gave an empty frame."""
    from stet.formats import journaled

    monkeypatch.setattr(journaled, "FLUSH_AFTER", 3600.0)  # no background compaction here
    store = tmp_path / "runs.parquet"

    @stet.once(store=store, verbose=False)
    def point(i: int) -> int:
        return i

    if reader == "sweep":
        stet.sweep(point, {"i": range(30)}, progress=False)
    else:
        for i in range(30):
            point(i)
        assert plain_count(store) == 0  # in the journal, as the threshold is far
        {"status": stet.status, "load": stet.load, "records": stet.records}[reader](store)
    assert plain_count(store) == 30
    point(30)
    stet.status(store)
    assert plain_count(store) == 31


def test_many_compactions_leave_few_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compaction on every append (as a day of them every few seconds would): the
    parts are merged, never more than MAX_PARTS of them."""
    from stet.formats import journaled

    monkeypatch.setattr(journaled, "FLUSH_AFTER", 0.0)
    store = tmp_path / "runs.parquet"

    @stet.once(store=store, verbose=False)
    def point(i: int) -> int:
        return i

    most = 0
    for i in range(300):
        point(i)
        most = max(most, len(list(store.glob("part-*.parquet"))))
    assert most <= journaled.MAX_PARTS
    stet.status(store)
    assert plain_count(store) == 300
    assert len(stet.records(store)) == 300


def test_a_store_with_its_journal_inside_opens_and_moves_it_out(tmp_path: Path) -> None:
    """An older stet kept the journal in the directory (``_stet_journal.jsonl``), where
    DuckDB's ``read_parquet('runs.parquet/**')`` reads it as a broken Parquet file."""
    store = tmp_path / "runs.parquet"
    code = """
@stet.once(store=store, verbose=False)
def point(i):
    print("ran", i)

for i in range(int(sys.argv[2])):
    point(i)
"""
    python(tmp_path, code, str(store), "10")
    (tmp_path / "runs.parquet.journal").rename(store / "_stet_journal.jsonl")  # the old layout
    assert len(stet.records(store)) == 10
    assert ran(python(tmp_path, code, str(store), "12")) == ["10", "11"]
    assert not (store / "_stet_journal.jsonl").exists()
    assert plain_count(store) == 12
