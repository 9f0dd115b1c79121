"""The Parquet store: a directory of part files plus a journal, compacted as it grows.

What the contract suite cannot see from outside: typed columns and their widening,
compaction by threshold while other processes read, crashes in the middle of a
compaction, and the leftovers such crashes leave. Real processes and real ``kill -9``.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from probes import Driver, run, wait_until

import stet
from stet._store import Store
from stet._values import key_of_cell
from stet.formats.parquetdir import ParquetDir, journal_path


def script(store: Path, body: str, compact_at: int | None = None) -> str:
    """A program defining ``probe(x)`` and ``point(i, x)`` on ``store``, then ``body``."""
    setting = (
        f"import stet.formats.journaled as journaled\njournaled.COMPACT_AT = {compact_at}\n"
        if compact_at is not None
        else ""
    )
    return (
        f"import os, sys, time, stet\n{setting}"
        + textwrap.dedent(f"""
            @stet.once(store={str(store)!r}, verbose=False)
            def probe(x):
                print("ran", repr(x), flush=True)

            @stet.once(store={str(store)!r}, verbose=False)
            def point(i, x=0.5):
                return i + 1
            """)
        + textwrap.dedent(body)
    )


def records(store: Path) -> list[dict[str, Any]]:
    """Every record as stet reads it (absent cells left out)."""
    snapshot = Store(str(store), store.name).snapshot()
    return [
        {c: cell for c, cell in zip(snapshot.header, row, strict=True) if cell != ""}
        for row in snapshot.rows
    ]


def journal(store: Path) -> Path:
    """The store's journal, beside its directory (``runs.parquet.journal``)."""
    return Path(journal_path(str(store)))


def listed_parts(store: Path) -> list[str]:
    header = json.loads(journal(store).read_text().split("\n", 1)[0])
    return list(header["parts"])


def journal_records(store: Path) -> int:
    return journal(store).read_text().count("\n") - 1


def part_files(store: Path) -> list[str]:
    return sorted(p.name for p in store.glob("part-*.parquet"))


# ------------------------------------------------------------------ values and types


INTS = [0, 7, 2**52]
FLOATS = [0.5, -2.25, 1e300]
OTHERS = [
    float("nan"),
    float("inf"),
    None,
    True,
    "1",
    "None",
    "",
    "a,b",
    "x\ny",
    (1, 2),
    2**60,
    -(2**70),
    "\ud800",  # a lone surrogate: not UTF-8, so a part stores its quoted form
]
EQUAL = "[0.0, -0.0, 7.0, float(2**52), 1 / 2, -9 / 4, 1e300, float('nan'), None, True, (1, 2)]"
FRESH = "['0', 7.5, 2**53 + 1, (1, 2, 3), \"'1'\", 1, 'nan', False]"


def source(values: list[Any]) -> str:
    """Python source of a list of values (``float('nan')`` for NaN)."""
    texts = [
        f"float({repr(v)!r})" if isinstance(v, float) and not math.isfinite(v) else repr(v)
        for v in values
    ]
    return "[" + ", ".join(texts) + "]"


def test_mixed_values_round_trip_and_widen_their_columns(tmp_path: Path) -> None:
    """Ints, then floats, then text: each session's compaction widens the column
    (int64 -> float64 -> string), and every value keeps its identity in a new process."""
    store = tmp_path / "runs.parquet"
    for values, kind in ((INTS, "int64"), (FLOATS, "double"), (OTHERS, "string")):
        out = run(script(store, f"for x in {source(values)}:\n    probe(x)\n"), tmp_path)
        assert out.count("ran ") == len(values)
        parts = listed_parts(store)
        assert len(parts) == 1, parts  # a new type: every part merged into one
        assert str(pq.read_schema(store / parts[0]).field("x").type) == kind
    assert journal_records(store) == 0  # the writers compacted it at exit
    everything = INTS + FLOATS + OTHERS
    again = run(
        script(store, f"for x in {source(everything)} + {EQUAL}:\n    probe(x)\n"), tmp_path
    )
    assert again == "", again  # every one, and every equal variant, is skipped
    fresh = run(script(store, f"for x in {FRESH}:\n    probe(x)\n"), tmp_path)
    assert fresh.count("ran ") == 8, fresh
    cells = [r["x"] for r in records(store)]
    assert len({key_of_cell(c) for c in cells}) == len(cells) == len(everything) + 8


def test_pandas_reads_typed_columns_once_the_writer_exits(tmp_path: Path) -> None:
    store = tmp_path / "runs.parquet"
    run(script(store, "for i in range(40):\n    point(i, i / 8)\n", compact_at=15), tmp_path)
    frame = pd.read_parquet(store)  # it skips the journal: its name starts with "_"
    assert sorted(frame["i"]) == list(range(40))
    assert frame["i"].dtype == "int64"
    assert frame["x"].dtype == "float64"
    assert (frame["x"] == frame["i"] / 8).all()
    assert frame["_stet_timestamp"].str.endswith("+00:00").all()
    assert journal_records(store) == 0


# ---------------------------------------------------------------------- compaction


def test_compaction_keeps_every_record_once_and_readers_follow(tmp_path: Path) -> None:
    """Many compactions while another process has the store open: it reads it again."""
    store = tmp_path / "runs.parquet"
    run(script(store, "for i in range(50):\n    point(i)\n", compact_at=7), tmp_path)
    reader = Driver(
        script(
            store,
            """
            assert point(0) is None  # opens the store
            open(sys.argv[1] + ".ready", "w").close()
            while not os.path.exists(sys.argv[1]):
                time.sleep(0.001)
            print(sum(point(i) is not None for i in range(100)))
            """,
        ),
        tmp_path,
        str(tmp_path / "go"),
    )
    wait_until(lambda: (tmp_path / "go.ready").exists(), reader)
    # Killed without settling: compactions happened, the last records stay in the journal.
    run(script(store, "for i in range(50, 100):\n    point(i)\nos._exit(0)\n", 7), tmp_path)
    assert 0 < journal_records(store) <= 7
    assert len(listed_parts(store)) <= 4  # merged as they grew: logarithmically many
    (tmp_path / "go").touch()
    code, out, err = reader.finish()
    assert code == 0, err
    assert out.strip() == "0"  # it saw every record appended after it opened the store
    found = Counter(r["i"] for r in records(store))
    assert found == dict.fromkeys(range(100), 1)


def test_a_reader_follows_a_compaction_without_reading_again(tmp_path: Path) -> None:
    """One compaction since a process last read: it reads the rest of the replaced journal
    and the new one, not the parts. A rewrite (reset) makes it read everything again."""
    store = tmp_path / "runs.parquet"
    run(script(store, "for i in range(10):\n    point(i)\nos._exit(0)\n"), tmp_path)
    reader = ParquetDir(str(store), "runs.parquet")
    first = reader.read(0, [])
    assert first.count == 10 and listed_parts(store) == []
    # 10 and 11 go to the journal, 12 first compacts all twelve into a part.
    run(script(store, "for i in range(10, 15):\n    point(i)\nos._exit(0)\n", 12), tmp_path)
    assert len(listed_parts(store)) == 1 and journal_records(store) == 3
    look = reader.generation()
    end = look.end if look is not None and look.same else None
    assert end is not None and end != first.end
    more = reader.read(first.end, first.header, None, 11)
    assert more.end == end
    assert more.columns[more.header.index("i")] == [10, 11, 12, 13, 14]
    run(script(store, "point(15)\nos._exit(0)\n"), tmp_path)
    assert reader.read(end, more.header, None, 16).columns[0] == [15]
    stet.reset(store, {"i": 3}, confirm=False)
    look = reader.generation()
    assert look is None or not look.same
    reader.close()


KILL_LOOP = """
    notes = open(sys.argv[1], "a")
    for i in range(int(sys.argv[2]), 10**6):
        point(i, i / 4)
        notes.write(f"{i}\\n")
        notes.flush()
"""


def test_kill_9_during_compactions_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / "runs.parquet"
    notes = tmp_path / "returned.txt"
    rng = random.Random(3)
    code = script(store, KILL_LOOP, compact_at=5)  # a compaction every fifth record
    returned: set[int] = set()
    start = 0
    for _ in range(5):
        driver = Driver(code, tmp_path, str(notes), str(start))
        before = len(returned)
        wait_until(lambda b=before: notes.exists() and notes.read_text().count("\n") > b, driver)
        time.sleep(rng.uniform(0.0, 0.4))
        driver.kill()
        assert driver.finish()[0] == -signal.SIGKILL
        returned = {int(line) for line in notes.read_text().splitlines() if line}
        found = Counter(r["i"] for r in records(store))  # the store opens
        assert max(found.values()) == 1, "a record twice"
        assert returned <= set(found), "a call that returned was lost"
        start = max(found) + 1
    run(script(store, "point(-1)\n"), tmp_path)  # a clean exit settles the store
    total = len(records(store))
    assert total == len(pd.read_parquet(store)) == len(set(pd.read_parquet(store)["i"]))
    assert part_files(store) == sorted(listed_parts(store))  # leftovers removed


KILL_INSIDE = """
    import signal

    def hook(frame, event, arg):  # kill -9 this process at one instant of a compaction
        name = frame.f_code.co_name
        caller = frame.f_back.f_code.co_name if frame.f_back else ""
        called = getattr(arg, "__name__", "") if event == "c_call" else name
        instant = (event, called, name if event == "c_call" else caller)
        if instant == kill_at and (name != "write_atomically" or caller == "_commit"):
            os.kill(os.getpid(), signal.SIGKILL)

    notes = open(sys.argv[1], "a")
    for i in range(40):
        if i == 17:  # the next compaction, at i == 20, merges every part
            sys.setprofile(hook)
        point(i, "text" if widen and i >= 17 else i / 4)
        notes.write(f"{i}\\n")
        notes.flush()
    raise SystemExit("never killed")
"""
INSTANTS = [  # in the order they come
    ("c_call", "replace", "place_part"),  # the part is written, not yet renamed
    ("call", "write_atomically", "_commit"),  # renamed, not yet listed
    ("c_call", "replace", "write_atomically"),  # the new journal, not yet renamed
    ("call", "_remove_leftovers", "_commit"),  # committed, merged parts not yet removed
]


@pytest.mark.parametrize("widen", [False, True], ids=["merge", "widen"])
@pytest.mark.parametrize("instant", range(4), ids=["written", "renamed", "journal", "committed"])
def test_kill_9_at_each_step_of_a_compaction(tmp_path: Path, instant: int, widen: bool) -> None:
    """Killed at each step of a compaction that merges every part (keeping their types,
    or widening one): the store opens with every record once; the next writer tidies."""
    store = tmp_path / "runs.parquet"
    notes = tmp_path / "returned.txt"
    body = f"kill_at = {INSTANTS[instant]!r}\nwiden = {widen}\n" + textwrap.dedent(KILL_INSIDE)
    driver = Driver(script(store, body, compact_at=5), tmp_path, str(notes))
    code, _, err = driver.finish()
    assert code == -signal.SIGKILL, err
    assert notes.read_text().split() == [str(i) for i in range(20)]
    assert Counter(r["i"] for r in records(store)) == dict.fromkeys(range(20), 1)
    again = f"x = lambda i: 'text' if {widen} and i >= 17 else i / 4\n" + (
        "print(sum(point(i, x(i)) is not None for i in range(25)))\n"
    )
    assert run(script(store, again), tmp_path) == "5\n"
    assert sorted(p.name for p in store.iterdir()) == sorted(listed_parts(store))
    assert sorted(pd.read_parquet(store)["i"]) == list(range(25))


def test_leftovers_of_a_killed_compaction_are_ignored_then_removed(tmp_path: Path) -> None:
    """What a writer killed inside a compaction leaves: a hidden half-written part, a
    part renamed but never listed (its records are still in the journal or in another
    part), a journal replacement never renamed. Readers see each record once."""
    store = tmp_path / "runs.parquet"
    run(script(store, "for i in range(20):\n    point(i)\n"), tmp_path)
    (part,) = listed_parts(store)
    shutil.copy(store / part, store / "part-0000000009-0123abcd.parquet")  # never listed
    (store / ".part-0000000010-4567cdef.parquet.tmp").write_bytes(b"PAR1 an older stet's")
    half = tmp_path / ".runs.parquet.part-0000000011-89abcdef.parquet.tmp"
    half.write_bytes(b"PAR1 half a part")
    (tmp_path / ".runs.parquet.journal.4242.0.tmp").write_text('{"_stet_journal": "x"}\n')
    assert sorted(r["i"] for r in records(store)) == list(range(20))
    assert (
        run(script(store, "print(sum(point(i) is not None for i in range(21)))\n"), tmp_path)
        == "1\n"
    )
    assert sorted(p.name for p in store.iterdir()) == sorted(listed_parts(store))
    assert sorted(pd.read_parquet(store)["i"]) == list(range(21))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_damage_is_refused_and_left_alone(tmp_path: Path) -> None:
    store = tmp_path / "runs.parquet"
    run(script(store, "for i in range(5):\n    point(i)\n"), tmp_path)

    def refused(path: Path, message: str) -> None:
        out = subprocess.run(
            [sys.executable, "-c", script(path, "point(99)\n")],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert "DamagedStoreError" in out.stderr and message in out.stderr, out.stderr
        assert "stet changed nothing" in out.stderr

    (part,) = listed_parts(store)
    (store / part).rename(tmp_path / part)
    refused(store, f"lists the part file {part}, which is missing")
    assert sorted(p.name for p in store.iterdir()) == []
    (store / part).write_bytes(b"not parquet at all")
    refused(store, f"its part file {part} is not readable Parquet")
    assert (store / part).read_bytes() == b"not parquet at all"
    plain = tmp_path / "plain.parquet"  # a Parquet file written by pandas, not a store
    pd.DataFrame({"i": [1, 2]}).to_parquet(plain)
    data = plain.read_bytes()
    refused(plain, "this is a file")
    assert plain.read_bytes() == data


# --------------------------------------------------------------- many processes


CONCURRENT = """
    go = sys.argv[1]
    open(go + ".ready", "a").write("x\\n")
    while not os.path.exists(go):
        time.sleep(0.001)
    for i in range(80):
        point(i % 60)
"""


def test_four_processes_append_and_compact_at_once(tmp_path: Path) -> None:
    store = tmp_path / "runs.parquet"
    go = tmp_path / "go"
    drivers = [Driver(script(store, CONCURRENT, compact_at=6), tmp_path, str(go)) for _ in range(4)]
    ready = Path(f"{go}.ready")
    wait_until(lambda: ready.exists() and ready.read_text().count("x") == 4)
    go.touch()
    for driver in drivers:
        code, _, err = driver.finish()
        assert code == 0, err
    assert Counter(r["i"] for r in records(store)) == dict.fromkeys(range(60), 1)
    assert sorted(pd.read_parquet(store)["i"]) == list(range(60))
    assert part_files(store) == sorted(listed_parts(store))


# ------------------------------------------------------------------------- reset


def test_reset_one_run_then_all(tmp_path: Path) -> None:
    store = tmp_path / "runs.parquet"
    run(script(store, "for i in range(10):\n    point(i)\n"), tmp_path)
    stet.reset(store, {"i": 3}, confirm=False)
    assert sorted(r["i"] for r in records(store)) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert part_files(store) == listed_parts(store)  # the old part is gone
    assert 3 not in set(pd.read_parquet(store)["i"])
    stet.reset(store, confirm=False)
    assert not store.exists()  # issue 13: a full reset removes the store's directory
    out = run(script(store, "print(sum(point(i) is not None for i in range(10)))\n"), tmp_path)
    assert out == "10\n"


# -------------------------------------------------------------- missing pyarrow


def test_a_parquet_store_without_pyarrow_names_the_extra(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import sys
        sys.modules["pyarrow"] = None  # as if it were not installed
        import stet
        stet.once(store="runs.csv", name="f")(lambda x: x)  # other formats still work
        try:
            stet.once(store="runs.parquet", name="f")(lambda x: x)
        except ImportError as error:
            print(error)
        """)
    out = run(code, tmp_path)
    assert 'pip install "stet[parquet]"' in out and "pyarrow" in out
