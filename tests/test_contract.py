"""One store contract, every format: each promise of DESIGN.md, run against each format.

Adding a format means adding its extension to ``FORMATS`` (and, if its appends can be
torn, to ``TEAR``). Real files, a real PostgreSQL server and real processes throughout;
nothing is mocked. A test written for files alone (torn bytes, garbage, a directory
removed) runs over ``FILE_FORMATS``.
"""

from __future__ import annotations

import json
import pickle
import random
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import identity_probe
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_identity import anything, equal_variant, reference
from workers import Driver, run, wait_until

import stet
from stet._store import Store
from stet._values import key_of_cell, typed_cell
from stet.formats import open_format

FILE_FORMATS = ["csv", "jsonl", "json", "sqlite", "parquet"]
FORMATS = [*FILE_FORMATS, "postgresql"]
PROBE = Path(identity_probe.__file__)


@pytest.fixture(params=FORMATS)
def ext(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def location(request: pytest.FixtureRequest, fmt: str, directory: Path, name: str) -> str:
    """A new store: a file in ``directory``, or a table of its own on the test server."""
    if fmt == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
        return f"{url}{'&' if '?' in url else '?'}table={name}_{secrets.token_hex(5)}"
    return str(directory / f"{name}.{fmt}")


@pytest.fixture
def new_store(request: pytest.FixtureRequest, ext: str) -> Callable[..., str]:
    """``new_store(directory, name="runs")``: a new store of this test's format."""
    return lambda directory, name="runs": location(request, ext, directory, name)


def records(store: str | Path) -> list[dict[str, Any]]:
    """Every record of a store as stet reads it, absent cells left out."""
    snapshot = Store(str(store), "store").snapshot()
    return [
        {c: cell for c, cell in zip(snapshot.header, row, strict=True) if cell != ""}
        for row in snapshot.rows
    ]


def frame(store: str | Path) -> pd.DataFrame:
    """The store as pandas reads it with its own reader for the format."""
    if str(store).startswith("postgresql://"):
        return _sql_frame(str(store))
    store = Path(store)
    suffix = store.suffix
    if suffix == ".csv":
        return pd.read_csv(store)
    if suffix == ".jsonl":
        return pd.read_json(store, lines=True)
    if suffix == ".json":
        return pd.read_json(store)
    if suffix == ".parquet":
        return pd.read_parquet(store)
    import sqlite3

    with sqlite3.connect(store) as connection:
        return pd.read_sql("select * from runs", connection)


def _sql_frame(url: str) -> pd.DataFrame:
    """A PostgreSQL store's table through ``pandas.read_sql`` on a psycopg connection."""
    import psycopg
    from psycopg import sql

    address, query = url.split("?", 1)
    table = dict(part.split("=", 1) for part in query.split("&"))["table"]
    with psycopg.connect(address) as connection, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas prefers SQLAlchemy; psycopg works
        text = sql.SQL("select * from {} order by _stet_row").format(sql.Identifier(table))
        return pd.read_sql(text.as_string(connection), connection).drop(columns="_stet_row")


# Programs in a fresh interpreter, as users run theirs (test_format_*.py import these too).

HEADER = """
import os, sys, stet
store = sys.argv[1]
"""


def python(directory: Path, code: str, *args: str) -> str:
    """Run ``HEADER + code`` with ``args`` in a fresh interpreter in ``directory``; its
    output, standard error too. It must exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", HEADER + code, *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def start(directory: Path, code: str, *args: str) -> subprocess.Popen[str]:
    """Start ``HEADER + code`` like ``python``; the test reads its output as it comes."""
    return subprocess.Popen(
        [sys.executable, "-c", HEADER + code, *args],
        cwd=directory,
        stdout=subprocess.PIPE,
        text=True,
    )


def ran(output: str) -> list[str]:
    """What the lines ``ran ...`` of a program's output say, in order."""
    return [line[4:] for line in output.splitlines() if line.startswith("ran ")]


def script(store: str | Path, *bodies: str, fsync: bool = False) -> str:
    """A program that defines ``grid_point`` and ``other`` on ``store``, then runs ``bodies``."""
    return textwrap.dedent(f"""
        import sys, stet

        @stet.once(store={str(store)!r}, fsync={fsync!r})
        def grid_point(alpha, seed, label="x"):
            print("ran", alpha, seed, label, flush=True)
            return alpha

        @stet.once(store={str(store)!r}, verbose=False)
        def other(step):
            print("other", step, flush=True)
        """) + "".join(map(textwrap.dedent, bodies))


GRID = """
    for alpha in (0.1, 0.25, float("nan"), None, 2**60, "1"):
        for seed in (0, 1):
            grid_point(alpha, seed)
"""


# ---------------------------------------------------------------- record and skip


def test_records_then_skips_in_a_new_process(tmp_path: Path, new_store: Callable[..., str]) -> None:
    store = new_store(tmp_path)
    first = run(script(store, GRID), tmp_path)
    assert first.count("ran ") == 12
    again = run(script(store, GRID), tmp_path)
    assert "ran " not in again
    assert again.count("[stet] Skipping grid_point(") == 10  # then the streak is condensed
    assert "[stet] Skipped 2 more completed runs of grid_point" in again
    assert len(records(store)) == 12
    numbers = frame(store).query("seed == 1")
    assert len(numbers) == 6 and numbers["seed"].dtype.kind in "if"


def test_pandas_reads_natural_dtypes(tmp_path: Path, new_store: Callable[..., str]) -> None:
    """Numbers are typed columns, text is text, and the timestamps carry their time zone."""
    store = new_store(tmp_path)
    run(script(store, "for i in range(5):\n    grid_point(i / 4, i, 'resnet')\n"), tmp_path)
    table = frame(store)
    assert table["alpha"].dtype == "float64"
    assert table["seed"].dtype == "int64"
    assert table["alpha"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert table["seed"].tolist() == [0, 1, 2, 3, 4]
    assert table["label"].tolist() == ["resnet"] * 5
    stamps = pd.to_datetime(table["_stet_timestamp"])
    assert stamps.dt.tz is not None and stamps.notna().all()


MIXED = """
    values = [0.1, 3, 2**60, 2**53, float("nan"), float("inf"), None, "3", "", True, (1, 2),
              "it's, \\"quoted\\"\\nand two lines", 1e300, -7, -0.0, "nul\\x00inside", "\\\\N"]

    @stet.once(store=sys.argv[1], verbose=False)
    def f(a, b=1):
        print("ran", repr(a), flush=True)

    for value in values:
        f(value)
    f(3.0)  # the run f(3)
    f(0.0)  # the run f(-0.0)
"""


def test_mixed_values_round_trip_across_processes(
    tmp_path: Path, new_store: Callable[..., str]
) -> None:
    store = new_store(tmp_path)
    first = ran(run(script(store, MIXED), tmp_path, str(store)))
    assert len(first) == 17 and "3.0" not in first and "0.0" not in first
    assert ran(run(script(store, MIXED), tmp_path, str(store))) == []  # all skipped after restart
    found = records(store)
    assert len(found) == 17 and {typed_cell(r["b"]) for r in found} == {1}


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    recorded=st.lists(anything, min_size=1, max_size=10),
    fresh=st.lists(anything, max_size=6),
)
def test_identity_survives_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
    new_store: Callable[..., str],
    recorded: list[Any],
    fresh: list[Any],
) -> None:
    """Record values here; a new process skips equal values and runs unequal ones."""
    directory = tmp_path_factory.mktemp("restart")
    store = new_store(directory)
    identity_probe.run(store, recorded)
    probes = [equal_variant(v) for v in recorded] + fresh
    expected = [not any(reference(p) == reference(r) for r in recorded) for p in probes]
    for i, probe in enumerate(probes):  # two equal fresh probes: only the first runs
        if expected[i] and any(reference(probe) == reference(p) for p in probes[:i]):
            expected[i] = False
    values_path = directory / "probes.pickle"
    values_path.write_bytes(pickle.dumps(probes))
    result = subprocess.run(
        [sys.executable, str(PROBE), store, str(values_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


# ------------------------------------------------------------ reset, two functions


def test_reset_one_run_then_all(tmp_path: Path, new_store: Callable[..., str]) -> None:
    store = new_store(tmp_path)
    run(script(store, GRID), tmp_path)
    out = run(
        script(store, "stet.reset(sys.argv[1], {'alpha': 0.25}, confirm=False)\n", GRID),
        tmp_path,
        str(store),
    )
    assert "Removed 2 runs matching alpha=0.25" in out
    assert sorted(line for line in out.splitlines() if line.startswith("ran")) == [
        "ran 0.25 0 x",
        "ran 0.25 1 x",
    ]
    out = run(script(store, "stet.reset(sys.argv[1], confirm=False)\n"), tmp_path, str(store))
    assert "Store cleared" in out
    if str(store).startswith("postgresql://"):
        assert records(store) == []
    else:  # issue 13: a full reset removes a file store, as before its first run
        assert not Path(store).exists()
    assert run(script(store, GRID), tmp_path).count("ran ") == 12


RESET_WORKER = """
    import os, time
    other(1); other(2)
    open(sys.argv[1] + ".ready", "w").close()
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.001)
    other(3)  # not done: reads what changed, and learns that 1 and 2 are gone
    other(1); other(2)
"""


def test_a_reset_is_noticed_by_another_process(
    tmp_path: Path, new_store: Callable[..., str]
) -> None:
    store, go = new_store(tmp_path), tmp_path / "go"
    worker = Driver(script(store, RESET_WORKER), tmp_path, str(go))
    wait_until(lambda: Path(f"{go}.ready").exists(), worker)
    stet.reset(store, confirm=False)

    def other(step: int) -> None:  # the worker's function: the same name and parameters
        pass

    record = stet.once(store=store, verbose=False)(other)
    for step in (5, 6, 7):  # records past the worker's cursor
        record(step)
    go.touch()
    code, out, err = worker.finish()
    assert code == 0, err
    assert out.splitlines() == ["other 1", "other 2", "other 3", "other 1", "other 2"]
    assert sorted(typed_cell(r["step"]) for r in records(store)) == [1, 2, 3, 5, 6, 7]


def test_two_functions_share_a_store(tmp_path: Path, new_store: Callable[..., str]) -> None:
    store = new_store(tmp_path)
    body = "grid_point(0.5, 1)\nfor step in (1, 2, 3):\n    other(step)\n"
    first = run(script(store, body), tmp_path)
    assert first.count("ran ") == 1 and first.count("other ") == 3
    assert run(script(store, body + "other(4)\n"), tmp_path).splitlines()[-1] == "other 4"
    functions = Counter(r.get("_stet_function", "grid_point") for r in records(store))
    assert functions == {"grid_point": 1, "other": 4}
    # The same step under the other function is not its run.
    out = run(script(store, "grid_point(1, 1)\n"), tmp_path)
    assert "ran 1 1 x" in out


def test_fsync_records_are_skipped_after_a_restart(
    tmp_path: Path, new_store: Callable[..., str]
) -> None:
    store = new_store(tmp_path)
    body = """
        @stet.once(store=sys.argv[1], fsync=True)
        def synced(i):
            print("ran", i)

        for i in range(3):
            synced(i)
    """
    assert run(script(store, body), tmp_path, str(store)).count("ran ") == 3
    again = run(script(store, body), tmp_path, str(store))
    assert "ran " not in again and again.count("[stet] Skipping synced(") == 3


# --------------------------------------------------------------- crashes and tears


KILL_LOOP = """
    returned = open(sys.argv[1], "a")
    for i in range(100_000):
        grid_point(i / 8, i % 3, label=f"n{i}")
        returned.write(f"{i}\\n")
        returned.flush()
"""

AGAIN = """
    for i in map(int, open(sys.argv[1]).read().split()):
        grid_point(i / 8, i % 3, label=f"n{i}")
    grid_point(-1, 0)
"""


@pytest.mark.parametrize("rounds", [6, pytest.param(24, marks=pytest.mark.stress, id="stress")])
def test_kill_9_at_random_moments_loses_nothing(
    tmp_path: Path, ext: str, new_store: Callable[..., str], rounds: int
) -> None:
    """A writer killed mid-sweep, again and again, with and without fsync: every call that
    returned is in the store once, and a new process skips every one of them."""
    store = new_store(tmp_path)
    notes = tmp_path / "returned.txt"
    rng = random.Random(f"{ext}{rounds}")
    done: set[int] = set()
    for round_ in range(rounds):
        driver = Driver(script(store, KILL_LOOP, fsync=round_ % 2 == 1), tmp_path, str(notes))
        wait_until(lambda: notes.exists() and notes.stat().st_size > 0, driver)
        time.sleep(rng.uniform(0.0, 0.3))
        driver.kill()
        assert driver.finish()[0] == -signal.SIGKILL, driver.output()
        returned = {int(line) for line in notes.read_text().splitlines() if line}
        labels = Counter(str(r["label"]) for r in records(store))
        assert not [label for label, n in labels.items() if n > 1], "a record twice"
        assert {f"n{i}" for i in returned} <= set(labels), "a returned call was lost"
        done |= returned
        notes.unlink()
    notes.write_text(" ".join(map(str, sorted(done))))
    again = run(script(store, AGAIN), tmp_path, str(notes))  # the store opens and takes more
    assert ran(again) == ["-1 0 x"], "a returned call ran again in a new process"


def _data_file(store: Path) -> Path:
    """The file a record is appended to."""
    return Path(f"{store}.journal") if store.suffix == ".parquet" else store


def _tear(store: Path, keep: int | None) -> None:
    """Write the first ``keep`` bytes (None: all but the newline) of a new record, the
    run ``grid_point(7.5, 9)``, as a writer killed mid-write would leave them."""
    path = _data_file(store)
    data = path.read_bytes()
    if store.suffix == ".json":  # the record is written over the array's closing line
        body = data[: -len(b"]\n")]
        last = body[body.rstrip(b"\n").rfind(b"\n") + 1 :].lstrip(b",").rstrip(b"\n")
        line = b"," + last.replace(b"9.0", b"7.5")
        torn = (line + b"\n]\n")[: len(line) if keep is None else keep]
        path.write_bytes(body + torn + b"]\n"[len(torn) :])
        return
    last = data[data.rstrip(b"\n").rfind(b"\n") + 1 :].rstrip(b"\n")
    line = last.replace(b"9.0", b"7.5")
    path.write_bytes(data + line[: len(line) if keep is None else keep])


TEAR = ["csv", "jsonl", "json", "parquet"]  # formats whose appends can be torn


@pytest.mark.parametrize("ext", TEAR)
@pytest.mark.parametrize("keep", [1, 7, None])
def test_a_torn_last_record_is_set_aside(tmp_path: Path, ext: str, keep: int | None) -> None:
    """A torn record is set aside; a whole one that lacks only its newline is kept."""
    store = tmp_path / f"runs.{ext}"
    grid = "for i in range(4):\n    grid_point(i / 4, i)\n"
    run(script(store, grid + "grid_point(9.0, 9)\nimport os\nos._exit(0)\n"), tmp_path)
    before = records(store)
    _tear(store, keep)
    out = run(script(store, "grid_point(7.5, 9)\ngrid_point(5.0, 5)\n"), tmp_path)
    assert "ran 5.0 5 x" in out
    assert ("ran 7.5 9 x" in out) == (keep is not None)
    assert ("torn last line" in out) == (keep is not None)
    after = records(store)
    assert after[: len(before)] == before
    assert len(after) == len(before) + 2
    if ext == "json":
        assert len(json.loads(store.read_text())) == len(after)
    run(script(store, "grid_point(6.0, 6)\n"), tmp_path)  # and it keeps working
    assert len(records(store)) == len(after) + 1


# ------------------------------------------------------------------- concurrency


CONCURRENT = """
    import os, random, time
    go, size, order = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    grid = [(i / 2, i % 5) for i in range(size)]
    if order:  # a worker of its own order (0: every worker in the same order)
        random.Random(order).shuffle(grid)
    open(go + ".ready", "a").write("x\\n")
    while not os.path.exists(go):
        time.sleep(0.0005)
    for alpha, seed in grid:
        grid_point(alpha, seed)
"""


@pytest.mark.parametrize(
    ("order", "size", "rounds"),
    [
        ("same", 60, 1),
        ("shuffled", 300, 1),
        pytest.param("same", 60, 8, marks=pytest.mark.stress, id="stress"),
    ],
)
def test_processes_appending_at_once(
    tmp_path: Path, new_store: Callable[..., str], order: str, size: int, rounds: int
) -> None:
    """Four processes start one grid on a new store at the same moment, in the same order
    or each in its own: each run is executed once and recorded once."""
    for round_ in range(rounds):
        directory = tmp_path / str(round_)
        directory.mkdir()
        store, go = new_store(directory), directory / "go"
        drivers = [
            Driver(script(store, CONCURRENT), directory, str(go), str(size), str(n))
            for n in ((1, 2, 3, 4) if order == "shuffled" else (0, 0, 0, 0))
        ]
        ready = Path(str(go) + ".ready")
        wait_until(lambda: ready.exists() and ready.read_text().count("x") == 4)  # noqa: B023
        go.write_text("go")
        executed: Counter[str] = Counter()
        for driver in drivers:
            code, out, err = driver.finish()
            assert code == 0, err
            executed.update(ran(out))
        assert [call for call, count in executed.items() if count > 1] == [], "a run ran twice"
        assert len(executed) == size, f"{len(executed)} runs executed, not {size}"
        found = records(store)
        keys = Counter(key_of_cell(r["alpha"]) + key_of_cell(r["seed"]) for r in found)
        assert [key for key, count in keys.items() if count > 1] == [], "a run recorded twice"
        assert len(found) == size, f"{len(found)} records, not {size}"


FORK = """
    import os

    @stet.once(store=sys.argv[1], verbose=False)
    def f(i):
        print("ran", os.getpid(), i, flush=True)

    f(1)
    pid = os.fork()
    if pid == 0:
        f(2); f(1)
        sys.exit(0)  # runs the exit handlers: the parent's store must survive them
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    f(3); f(2); f(1)
"""


def test_fork_with_an_open_store(tmp_path: Path, new_store: Callable[..., str]) -> None:
    store = new_store(tmp_path)
    lines = [line.split() for line in ran(run(script(store, FORK), tmp_path, str(store)))]
    assert [int(i) for _, i in lines] == [1, 2, 3]
    assert lines[0][0] == lines[2][0] != lines[1][0]  # 2 ran in the child, 3 in the parent
    assert sorted(typed_cell(r["i"]) for r in records(store)) == [1, 2, 3]


# ------------------------------------------------------------------- the format itself


def cells(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows as stet reads their cells: a number's text (in a CSV file) as the number."""
    return [[typed_cell(cell) for cell in row] for row in rows]


def test_reads_in_pieces_and_notices_a_rewrite(
    tmp_path: Path, ext: str, new_store: Callable[..., str]
) -> None:
    """A reader takes the store a piece at a time, sees an append at its cursor, and
    notices a rewrite (a new generation: read from 0 again)."""
    store = new_store(tmp_path)
    writer, reader = open_format(store, "writer"), open_format(store, "reader")
    header = ["i", "x", "note", "_stet_timestamp"]
    stamp = "2026-03-12T11:48:59.428400+00:00"
    rows = [[i, "" if i % 3 else f"t{i}", "n" * 64, stamp] for i in range(1, 1001)]
    with writer.site.lock:
        writer.rewrite(header, rows)
    got: list[list[Any]] = []
    cursor = 0
    while True:
        chunk = reader.read_from(cursor, header, 1, limit=64 * 300)
        assert chunk.header == header
        assert chunk.count <= 300 or ext == "parquet"  # its files: 65,536 rows a piece
        got += chunk.rows
        if chunk.end == cursor:
            break
        cursor = chunk.end
    assert cells(got) == rows and (got == rows or ext == "csv")  # CSV cells are text
    assert reader.end_if_same() == cursor
    with writer.site.lock:  # a writer appends where its own reading ended, as a store does
        assert writer.read_from(0, header, 1).end == cursor
        end = writer.append(header, {"i": 1001, "note": "n", "_stet_timestamp": stamp}, fsync=False)
    assert reader.end_if_same() == end != cursor
    assert cells(reader.read_from(cursor, header, 1).rows) == [[1001, "", "n", stamp]]
    if ext in ("sqlite", "postgresql"):  # their cursor is a row id
        assert (cursor, end) == (1000, 1001)
    with writer.site.lock:
        writer.rewrite(header, rows[:10])
    assert reader.end_if_same() is None  # the generation changed: read from 0 again,
    reader.close()  # as a store does, after letting go of what it had open
    again = reader.read_from(0, [], 1)
    found = [dict(zip(again.header, row, strict=True)) for row in cells(again.rows)]
    assert found == [dict(zip(header, row, strict=True)) for row in rows[:10]]
    writer.close()
    reader.close()


# ------------------------------------------------------------------ damaged files


def failure(code: str, directory: Path) -> str:
    """The standard error of a program that must fail."""
    driver = Driver(code, directory)
    exit_code, _, err = driver.finish()
    assert exit_code != 0, driver.output()
    return err


@pytest.mark.parametrize("ext", FILE_FORMATS)
def test_garbage_in_the_middle_is_refused_and_left_alone(tmp_path: Path, ext: str) -> None:
    store = tmp_path / f"runs.{ext}"
    run(script(store, "for i in range(6):\n    grid_point(i / 4, i)\n"), tmp_path)
    if ext == "sqlite":
        path = store
        data = path.read_bytes()
        damaged = data[:100] + b"\xff garbage \x00" * 50 + data[650:]
    else:
        path = _data_file(store)
        if ext == "parquet":  # a record in the journal, not yet compacted
            run(script(store, "grid_point(9.0, 9)\nimport os\nos._exit(0)\n"), tmp_path)
        data = path.read_bytes()
        lines = data.split(b"\n")
        lines.insert(len(lines) - 2, b"\xff\xfe not a record {")
        damaged = b"\n".join(lines)
    path.write_bytes(damaged)
    error = failure(script(store, "grid_point(0.0, 0)\n"), tmp_path)
    assert "DamagedStoreError" in error and "stet changed nothing" in error, error
    assert path.read_bytes() == damaged


def test_a_hand_edited_csv_with_an_extra_column(tmp_path: Path) -> None:
    store = tmp_path / "runs.csv"
    run(script(store, "for i in range(3):\n    grid_point(i / 4, i)\n"), tmp_path)
    lines = store.read_text().splitlines()
    lines[2] = lines[2] + ",oops"  # one line with a cell too many
    store.write_text("\n".join(lines) + "\n")
    damaged = store.read_bytes()
    error = failure(script(store, "grid_point(0.0, 0)\n"), tmp_path)
    assert "line 3 has 5 cells where the header has 4" in error, error
    assert store.read_bytes() == damaged
    # A whole new column, added by hand to the header and every line: a clear message.
    lines = [lines[0] + ",notes"] + [line.removesuffix(",oops") + ",n" for line in lines[1:]]
    store.write_text("\n".join(lines) + "\n")
    out_text = run(script(store, "grid_point(0.0, 0)\n"), tmp_path)
    assert "3 earlier records hold notes, which is no longer in its key" in out_text


def test_an_unknown_extension_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.xlsx is not one stet knows.*\.csv, \.jsonl"):
        stet.once(store=tmp_path / "runs.xlsx")(lambda x: x)


# ----------------------------------------------------------------------- convert

TRICKY = [0.1, 3, -0.0, float("nan"), 2**60, None, True, "1", "None", "", (1, "a"), {"b": 2.5}]


@pytest.mark.parametrize("target", FORMATS)
def test_convert_keeps_every_identity(
    tmp_path: Path, request: pytest.FixtureRequest, new_store: Callable[..., str], target: str
) -> None:
    source = new_store(tmp_path, "source")
    identity_probe.run(source, TRICKY)
    destination = location(request, target, tmp_path / "copy", "runs")
    assert stet.convert(source, destination) == len(TRICKY)
    assert identity_probe.run(str(destination), [*TRICKY, 0.2]) == [False] * len(TRICKY) + [True]
    with pytest.raises(FileExistsError, match="never writes over a store"):
        stet.convert(source, destination)


@pytest.mark.parametrize("stamped", [False, True])
def test_convert_imports_a_csv_made_without_stet(
    tmp_path: Path, new_store: Callable[..., str], stamped: bool
) -> None:
    earlier = pd.DataFrame({"alpha": [0.1, 0.2, 0.3], "seed": [1, 2, 3]})
    if stamped:
        earlier["_stet_timestamp"] = "2025-01-02T03:04:05.000000+00:00"
    earlier.to_csv(tmp_path / "earlier.csv", index=False)
    store = new_store(tmp_path)
    stet.convert(tmp_path / "earlier.csv", store)
    out = run(script(store, "for i in range(1, 5):\n    grid_point(i / 10, i)\n"), tmp_path)
    assert [line for line in out.splitlines() if line.startswith("ran")] == ["ran 0.4 4 x"]
    stamps = {r["_stet_timestamp"] for r in records(store)}
    assert ("2025-01-02T03:04:05.000000+00:00" in stamps) == stamped


@pytest.mark.parametrize("ext", FILE_FORMATS)
def test_a_store_removed_before_exit_is_no_error(tmp_path: Path, ext: str) -> None:
    store = tmp_path / "scratch" / f"runs.{ext}"
    body = "import shutil\ngrid_point(0.1, 1)\nshutil.rmtree(sys.argv[1])\n"
    driver = Driver(script(store, body), tmp_path, str(store.parent))
    code, out, err = driver.finish()
    assert code == 0 and "ran 0.1 1 x" in out
    assert err == ""
