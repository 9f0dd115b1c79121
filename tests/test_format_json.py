"""The ``.json`` store: a JSON array that ``json.load`` and ``pandas.read_json`` read
after every append, appended in place (no rewrite per record), whole after any torn
write or ``kill -9``.

Real files and real processes; nothing is mocked.
"""

from __future__ import annotations

import json
import math
import pickle
import random
import shutil
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from probes import Driver, run, wait_until
from probes import identity as identity_probe

import stet


def script(store: Path, body: str) -> str:
    """A program that defines ``fit`` on ``store``, then runs ``body``."""
    return textwrap.dedent(f"""
        import sys, stet

        @stet.once(store={str(store)!r}, verbose=False)
        def fit(alpha, seed=0, label="x"):
            print("ran", alpha, seed, label, flush=True)
        """) + textwrap.dedent(body)


def array(store: Path) -> list[dict[str, Any]]:
    """The store as ``json.load`` reads it: it must be one JSON array of objects."""
    with open(store, encoding="utf-8") as handle:
        records = json.load(handle)
    assert isinstance(records, list) and all(isinstance(r, dict) for r in records)
    return records


EXECUTED: list[Any] = []


def point(alpha: float, seed: int = 0) -> None:
    if alpha < 0:
        raise ValueError("a failed call: it records nothing")
    EXECUTED.append(alpha)


def step(n: int) -> None:
    EXECUTED.append(n)


def test_every_append_leaves_a_json_array_without_a_rewrite(tmp_path: Path) -> None:
    store = tmp_path / "runs.json"
    fit = stet.once(store=store, verbose=False)(point)
    other = stet.once(store=store, verbose=False)(step)
    inode, size = 0, 0
    for i in range(12):
        if i == 8:
            other(1)  # a second function: a new column, still no rewrite
        else:
            fit(i / 4 + 0.125, i % 3)
        data = store.read_bytes()
        records = array(store)
        assert len(records) == i + 1
        if i:  # after the first record, an append writes in place: same file, one line more
            assert store.stat().st_ino == inode
            new_line = data[size - 2 : -2]
            assert new_line.startswith(b",{") and new_line.count(b"\n") == 1
            assert json.loads(new_line[1:]) == records[-1]
        inode, size = store.stat().st_ino, len(data)
        table = pd.read_json(store)
        assert table["alpha"].dtype == "float64"
        assert table["seed"].dtype == ("int64" if i < 8 else "float64")  # NaN for step's row
    lines = data.decode().split("\n")
    assert lines[0] == "[" and lines[-2:] == ["]", ""]
    assert lines[1].startswith("{") and all(line.startswith(",{") for line in lines[2:-2])
    assert records[8]["n"] == 1 and records[8]["_stet_function"] == "step"
    alphas = [i / 4 + 0.125 for i in range(12) if i != 8]
    assert [r["alpha"] for r in records if "alpha" in r] == alphas


MIXED: list[Any] = [0.1, 3, -7, 1e300, -0.0, math.nan, 2**60, None, True, "1", "None", ""]
MIXED += [(1, "a"), {"b": 2.5}, 'a,b\n"c"', "ü ☃ 𝄞", "[1, 2]", 10**20 + 1]


def test_mixed_values_round_trip_across_processes(tmp_path: Path) -> None:
    store = tmp_path / "runs.json"
    assert identity_probe.run(str(store), MIXED) == [True] * len(MIXED)
    assert len(array(store)) == len(MIXED)
    equal: list[Any] = [0.1, 3.0, -7.0, 1e300, 0.0, math.nan, 2**60, None, True, "1", "None"]
    equal += ["", [1, "a"], {"b": 2.5}, 'a,b\n"c"', "ü ☃ 𝄞", "[1, 2]", 10**20 + 1]
    fresh: list[Any] = [0.2, 1, "3", "none", "null", [1, 2], 10**20, False]
    values = tmp_path / "values.pickle"
    values.write_bytes(pickle.dumps(equal + fresh))
    probe = [sys.executable, identity_probe.__file__, str(store), str(values)]
    result = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout.splitlines()[-1]) == [False] * len(equal) + [True] * len(fresh)
    assert len(array(store)) == len(MIXED) + len(fresh)
    table = pd.read_json(store)
    assert len(table) == len(MIXED) + len(fresh)


@pytest.mark.parametrize("before", [0, 3])
def test_every_torn_append_opens_and_keeps_every_record(tmp_path: Path, before: int) -> None:
    """Each prefix of an append's one write, over the old closing ``]`` line."""
    source = tmp_path / "source" / "runs.json"
    record = stet.once(store=source, verbose=False)(point)
    for i in range(before):
        record(i / 4)
    old = source.read_bytes() if before else b"[\n]\n"
    record(7.5)
    new = source.read_bytes()
    at = len(old) - 2  # where the old ``]`` was
    assert new[:at] == old[:at]  # the append wrote nothing before it
    written = new[at:]
    line = written[: -len(b"]\n")]  # the record line the append wrote, comma and newline
    assert line.startswith(b"," if before else b"{") and line.endswith(b"}\n")
    for keep in range(len(written) + 1):
        torn = new[:at] + written[:keep] + old[at + keep :]
        directory = tmp_path / f"keep{keep}"
        directory.mkdir()
        store = directory / "runs.json"
        store.write_bytes(torn)
        shutil.copy(f"{source}.owner", f"{store}.owner")
        EXECUTED.clear()
        ran = EXECUTED
        probe = stet.once(store=store, verbose=False)(point)
        with pytest.raises(ValueError):
            probe(-1.0)  # opens the store and mends it, records nothing
        kept = keep >= len(line) - 1  # a whole record, lacking at most its newline
        assert len(array(store)) == before + kept, keep  # valid JSON once opened
        probe(7.5)  # runs again only if its record was torn
        assert ran == ([] if kept else [7.5]), keep
        for i in range(before):
            probe(i / 4)
        probe(5.0)
        assert ran == ([5.0] if kept else [7.5, 5.0]), keep
        records = array(store)
        assert [r["alpha"] for r in records] == [i / 4 for i in range(before)] + [7.5, 5.0]
        assert store.read_bytes().endswith(b"}\n]\n")
        torn_file = Path(f"{store}.torn")
        assert torn_file.exists() == (0 < keep < len(line) - 1), keep  # set aside, no noise
        if torn_file.exists():
            assert torn_file.read_bytes().rstrip(b"\n") == written[:keep].rstrip(b"\n")


KILL_LOOP = """
    if sys.argv[2] == "open":
        fit(-1)
        raise SystemExit
    returned = open(sys.argv[1], "a")
    for i in range(100_000):
        fit(i / 8, i % 3, label=f"n{i}")
        returned.write(f"{i}\\n")
        returned.flush()
"""


def test_kill_9_of_a_writer_loses_nothing_it_returned(tmp_path: Path) -> None:
    store = tmp_path / "runs.json"
    notes = tmp_path / "returned.txt"
    code = script(store, KILL_LOOP)
    rng = random.Random(7)
    returned: set[int] = set()
    for _ in range(6):
        driver = Driver(code, tmp_path, str(notes), "loop")
        wait_until(lambda: notes.exists() and notes.stat().st_size > 0, driver)
        time.sleep(rng.uniform(0.0, 0.2))
        driver.kill()
        driver.finish()
        returned |= {int(line) for line in notes.read_text().splitlines()}
        notes.unlink()
        run(code, tmp_path, str(notes), "open")  # a new process opens it (and mends a tear)
        labels = Counter(str(r.get("label", "x")) for r in array(store) if r["alpha"] != -1)
        assert max(labels.values()) == 1, "a record twice"
        assert {f"n{i}" for i in returned} <= set(labels), "a returned call was lost"
    assert len(pd.read_json(store)) == len(array(store))


CONCURRENT = """
    import os, time
    go, first = sys.argv[1], int(sys.argv[2])
    open(go + ".ready", "a").write("x\\n")
    while not os.path.exists(go):
        time.sleep(0.0005)
    for i in range(first, first + 50):
        fit(i / 2, i % 5)
"""


def test_four_processes_appending_at_once(tmp_path: Path) -> None:
    store = tmp_path / "runs.json"
    go = tmp_path / "go"
    code = script(store, CONCURRENT)
    drivers = [Driver(code, tmp_path, str(go), str(25 * n)) for n in range(4)]
    ready = Path(f"{go}.ready")
    wait_until(lambda: ready.exists() and ready.read_text().count("x") == 4)
    go.write_text("go")
    for driver in drivers:
        exit_code, _, err = driver.finish()
        assert exit_code == 0, err
    records = array(store)
    assert sorted(r["alpha"] for r in records) == [i / 2 for i in range(125)]
    assert len(pd.read_json(store)) == 125


FOREIGN = {  # a file at the store's path, as another tool wrote it -> what the error says
    "one line": (json.dumps([{"alpha": 0.1, "seed": 1}]), "its first line is not"),
    "indented": (json.dumps([{"alpha": 0.1, "seed": 1}], indent=2), "line 2 is not one"),
    "an object": (json.dumps({"alpha": [0.1, 0.2]}) + "\n", "its first line is not"),
    "garbage": ("\x00\xff binary \n", "its first line is not"),
    "no timestamps": ('[\n{"alpha": 0.1}\n,{"alpha": 0.2}\n]\n', "no _stet_timestamp column"),
}


@pytest.mark.parametrize("kind", FOREIGN)
def test_a_json_file_from_another_tool_is_refused_and_left_alone(tmp_path: Path, kind: str) -> None:
    store = tmp_path / "runs.json"
    text, problem = FOREIGN[kind]
    store.write_bytes(text.encode("utf-8", "surrogateescape"))
    before = store.read_bytes()
    out = subprocess.run(
        [sys.executable, "-c", script(store, "fit(0.1, 1)\n")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode != 0 and "ran" not in out.stdout
    assert "DamagedStoreError" in out.stderr and problem in out.stderr, out.stderr
    assert "stet.convert" in out.stderr and "stet changed nothing" in out.stderr
    assert store.read_bytes() == before
    assert not Path(f"{store}.torn").exists()


def test_an_empty_array_becomes_a_store(tmp_path: Path) -> None:
    store = tmp_path / "runs.json"
    store.write_text("[]")
    assert run(script(store, "fit(0.5)\nfit(0.5)\n"), tmp_path).count("ran") == 1
    assert [r["alpha"] for r in array(store)] == [0.5]


def test_reset_of_one_run(tmp_path: Path) -> None:
    store = tmp_path / "runs.json"
    grid = "for alpha in (0.1, 0.25, 0.5):\n    for seed in (0, 1):\n        fit(alpha, seed)\n"
    assert run(script(store, grid), tmp_path).count("ran") == 6
    stet.reset(store, {"alpha": 0.25, "seed": 1}, confirm=False)
    assert sorted((r["alpha"], r["seed"]) for r in array(store)) == [
        (0.1, 0),
        (0.1, 1),
        (0.25, 0),
        (0.5, 0),
        (0.5, 1),
    ]
    assert run(script(store, grid), tmp_path).splitlines() == ["ran 0.25 1 x"]
    assert len(array(store)) == 6
    stet.reset(store, confirm=False)
    assert not store.exists()  # issue 13: a full reset removes the store
