"""Result values kept as files (``stet._resultfiles``), and ``result_cells`` and
``result_value`` with a run directory: every kind written to a real directory and read
back, the extremes of each kind, the refusals and their messages, pickle only when asked,
and names that never overwrite a file already there."""

from __future__ import annotations

import json
import math
import mmap
import os
import pickle
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import stet
from stet._errors import DamagedStoreError
from stet._resultfiles import (
    FILE_PREFIX,
    UnkeptFileError,
    is_file_cell,
    read_result_file,
    write_result_file,
)
from stet._results import result_cells, result_value
from stet._values import result_cell_of, result_value_of_cell


def round_trip(value: Any, directory: Path, field: str | None = None, **options: Any) -> Any:
    cell = write_result_file(value, directory, field, **options)
    assert is_file_cell(cell) and (directory / cell[len(FILE_PREFIX) :]).is_file()
    return read_result_file(cell, directory, pickle=options.get("pickle", False))


def is_memory_mapped(array: Any) -> bool:
    return isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap)


# ------------------------------------------------------------------------------ arrays

ARRAYS = {
    "float64": np.linspace(0.0, 1.0, 7),
    "0-d": np.array(3.25),
    "0-d-int": np.array(7, dtype=np.int8),
    "empty": np.zeros((0, 3)),
    "empty-1d": np.array([], dtype=np.int32),
    "float16": np.array([1.5, -0.0, np.inf, np.nan], dtype=np.float16),
    "complex": np.array([1 + 2j, np.nan * 1j], dtype=np.complex128),
    "datetime64": np.array(["2020-01-01T12:00", "NaT"], dtype="datetime64[ns]"),
    "timedelta64": np.array([1, 2], dtype="timedelta64[s]"),
    "structured": np.array([(1.5, 2, b"ab")], dtype=[("x", "<f8"), ("y", ">i4"), ("z", "S2")]),
    "unicode": np.array(["é", "€uro", ""]),
    "bool": np.array([[True, False]]),
    "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "non-contiguous": np.arange(40).reshape(5, 8)[::2, 1::3],
    "big-endian": np.arange(5, dtype=">u8"),
    "10MB": np.random.default_rng(0).random(10 * 2**20 // 8).reshape(1024, -1),
}


@pytest.mark.parametrize("case", ARRAYS)
def test_an_array_comes_back_equal_memory_mapped_and_read_only(tmp_path: Path, case: str) -> None:
    array = ARRAYS[case]
    cell = write_result_file(array, tmp_path)
    assert cell == "file:result.npy"
    back = read_result_file(cell, tmp_path)
    assert is_memory_mapped(back), type(back.base)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)  # NaN and NaT equal where they stand
    assert not back.flags.writeable
    if case == "fortran":
        assert back.flags.f_contiguous and not back.flags.c_contiguous
    with pytest.raises(ValueError, match="read-only"):
        back[...] = 0


def test_a_memmap_result_is_written_as_its_values(tmp_path: Path) -> None:
    source = np.lib.format.open_memmap(tmp_path / "user.npy", mode="w+", shape=(3,))
    source[:] = [1.0, 2.0, 3.0]
    out = tmp_path / "run"
    out.mkdir()
    np.testing.assert_array_equal(round_trip(source, out), [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("array", "problem"),
    [
        (np.array([1, None], dtype=object), "a NumPy array of dtype object is not kept"),
        (np.array([(1, None)], dtype=[("a", "i8"), ("b", "O")]), "dtype .* is not kept"),
        (np.ma.masked_array([1, 2], mask=[0, 1]), "MaskedArray .*would come back as a plain"),
    ],
    ids=["object", "structured-object", "masked"],
)
def test_arrays_that_need_pickle_are_refused(tmp_path: Path, array: Any, problem: str) -> None:
    with pytest.raises(UnkeptFileError, match=problem + ".*pass pickle=True"):
        write_result_file(array, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ frames

FRAMES = {
    "plain": pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, np.nan]}),
    "multiindex": pd.DataFrame(
        {"v": [1.0, np.nan, 3.0]},
        index=pd.MultiIndex.from_tuples([(1, "a"), (1, "b"), (2, "a")], names=["i", "j"]),
    ),
    "categorical": pd.DataFrame({"c": pd.Categorical(["lo", "hi", "lo"], ["lo", "hi"])}),
    "tz-aware": pd.DataFrame(
        {"t": pd.date_range("2020-03-29", periods=3, freq="h", tz="Europe/Paris")}
    ),
    "time-index": pd.DataFrame({"x": [1, 2, 3]}, index=pd.date_range("2020", periods=3, freq="D")),
    "named-index": pd.DataFrame({"a": [1, 2]}, index=pd.Index(["k1", "k2"], name="key")),
    "int-index": pd.DataFrame({"a": [1, 2]}, index=[10, 3]),
    "nullable": pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}),
    "float16": pd.DataFrame({"h": np.array([1.5, 2.0], dtype=np.float16)}),
    "int-column-name": pd.DataFrame({0: [1.0], 1: [2.0]}),
    "empty": pd.DataFrame({"a": pd.Series([], dtype="float64")}),
    "multi-columns": pd.DataFrame(
        [[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])
    ),
}


@pytest.mark.parametrize("case", FRAMES)
def test_a_frame_comes_back_equal_with_its_index_and_dtypes(tmp_path: Path, case: str) -> None:
    frame = FRAMES[case]
    back = round_trip(frame, tmp_path, "frame")
    assert (tmp_path / "result.frame.parquet").is_file()
    assert type(back) is pd.DataFrame
    pd.testing.assert_frame_equal(back, frame, check_exact=True, check_freq=False)
    assert back.equals(frame) and list(back.dtypes) == list(frame.dtypes)


SERIES = {
    "named": pd.Series([1.5, np.nan], index=["a", "b"], name="loss"),
    "unnamed": pd.Series([1, 2, 3]),
    "int-name": pd.Series([True, False], name=7),
    "index-named-values": pd.Series([1], index=pd.Index(["x"], name="values"), name="values"),
    "tz-aware": pd.Series(pd.date_range("2021", periods=2, tz="UTC"), name="t"),
    "multiindex": pd.Series([1, 2], index=pd.MultiIndex.from_tuples([(0, "a"), (0, "b")])),
}


@pytest.mark.parametrize("case", SERIES)
def test_a_series_comes_back_a_series_with_its_name_and_index(tmp_path: Path, case: str) -> None:
    series = SERIES[case]
    cell = write_result_file(series, tmp_path, "s")
    assert cell == "file:result.s.series.parquet"
    back = read_result_file(cell, tmp_path)
    assert type(back) is pd.Series and back.name == series.name
    pd.testing.assert_series_equal(back, series, check_exact=True)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (pd.DataFrame({"o": [1, "a"]}), "pyarrow cannot write this DataFrame as Parquet"),
        (pd.DataFrame({"z": [1 + 2j]}), "pyarrow cannot write this DataFrame"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "Duplicate column names"),
        (pd.DataFrame({"l": [[1], [2, 3]]}), "would not come back from Parquet as it is"),
        (pd.Series([1], name=("a", "b")), r"the Series name \('a', 'b'\) is not kept in its file"),
        (pd.Series([1], name=pd.Timestamp("2020")), "the Series name .* is not kept in its"),
    ],
    ids=["mixed-object", "complex", "duplicate-columns", "lists", "tuple-name", "odd-name"],
)
def test_frames_parquet_would_change_are_refused(tmp_path: Path, value: Any, problem: str) -> None:
    with pytest.raises(UnkeptFileError, match=problem + ".*pass pickle=True"):
        write_result_file(value, tmp_path, "frame")
    assert list(tmp_path.iterdir()) == [], "a refused file is removed"
    back = round_trip(value, tmp_path, "frame", pickle=True)  # asked for by name
    assert (tmp_path / "result.frame.pkl").is_file()
    assert back.equals(value)


# -------------------------------------------------------------------------------- JSON

NESTED = {
    "dict-in-dict": {"a": {"b": 1, "c": [1.5, None, True]}},
    "list-of-dicts": [{"x": 1}, {"y": "ü€😀"}],
    "big-ints": {"n": [2**64, -(2**100), 0]},
    "unicode-keys": {"clé": {"ключ": "值", "": -0.0}},
    "lone-surrogate": {"s": "\udc80x"},
    "deep": {"a": [[[{"b": [[[]]]}]]]},
    "floats": [5e-324, 1e308, 0.1],
}


@pytest.mark.parametrize("case", NESTED)
def test_nested_plain_data_comes_back_equal_and_of_its_types(tmp_path: Path, case: str) -> None:
    value = NESTED[case]
    back = round_trip(value, tmp_path, "cfg")
    assert back == value and json.dumps(back) == json.dumps(value)  # types too: 1 vs 1.0, True
    text = (tmp_path / "result.cfg.json").read_bytes().decode("utf-8")  # strict UTF-8
    assert json.loads(text, parse_constant=pytest.fail) == value  # no NaN, no Infinity
    if case == "unicode-keys":
        assert "ключ" in text  # readable, not escaped


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([math.nan], r"the value at \[0\] is nan, which JSON has no number for"),
        ({"a": {"b": math.inf}}, r"the value at \['a'\]\['b'\] is inf"),
        ([(1, 2)], r"the value at \[0\] is a tuple, which JSON would give back as a list"),
        ({"a": {1: 2}}, r"the value at \['a'\] has the key 1, which JSON would turn into text"),
        ([{"x": np.float64(1.0)}], r"\[0\]\['x'\] is a float64, which JSON does not keep"),
        ([b"x"], r"\[0\] is a bytes"),
    ],
    ids=["nan", "inf", "tuple", "int-key", "numpy-scalar", "bytes"],
)
def test_nested_data_json_would_change_is_refused(tmp_path: Path, value: Any, problem: str) -> None:
    with pytest.raises(UnkeptFileError, match=problem):
        write_result_file(value, tmp_path, "cfg")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ pickle


@dataclass
class Custom:
    name: str
    values: tuple[int, ...]


def test_pickle_only_when_asked_for_writing_and_reading(tmp_path: Path) -> None:
    value = Custom("a", (1, 2))
    with pytest.raises(UnkeptFileError, match="stet keeps no Custom value in a file but a pickle"):
        write_result_file(value, tmp_path)
    cell = write_result_file(value, tmp_path, pickle=True)
    assert cell == "file:result.pkl"
    with open(tmp_path / "result.pkl", "rb") as file:
        assert file.read(2) == bytes([0x80, pickle.HIGHEST_PROTOCOL])
    with pytest.raises(
        TypeError, match=r"is a pickle file; stet unpickles only with .*pickle=True"
    ):
        read_result_file(cell, tmp_path)
    assert read_result_file(cell, tmp_path, pickle=True) == value


def test_a_kind_with_its_own_file_is_never_pickled_even_when_pickle_is_on(tmp_path: Path) -> None:
    assert write_result_file(np.arange(3), tmp_path, "a", pickle=True) == "file:result.a.npy"
    assert write_result_file({"k": [1]}, tmp_path, "b", pickle=True) == "file:result.b.json"
    cell = write_result_file(np.array([None], dtype=object), tmp_path, "c", pickle=True)
    assert cell == "file:result.c.pkl"
    assert read_result_file(cell, tmp_path, pickle=True).dtype == object


# ------------------------------------------------------------------------------- names


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "result.npy").write_bytes(b"the user's own")
    (tmp_path / "result.curve.npy").write_bytes(b"theirs too")
    (tmp_path / "result.curve-2.npy").write_bytes(b"and this")
    assert write_result_file(np.arange(2), tmp_path) == "file:result-2.npy"
    assert write_result_file(np.arange(3), tmp_path, "curve") == "file:result.curve-3.npy"
    assert (tmp_path / "result.npy").read_bytes() == b"the user's own"
    assert (tmp_path / "result.curve.npy").read_bytes() == b"theirs too"
    np.testing.assert_array_equal(read_result_file("file:result.curve-3.npy", tmp_path), [0, 1, 2])


@pytest.mark.parametrize(
    "field", ["a/b", "..", ".hidden", "x" * 65, "with space", "é", "", "a\x00b", "CON:"]
)
def test_an_unsafe_field_name_gets_a_short_stable_hash(tmp_path: Path, field: str) -> None:
    cell = write_result_file(np.arange(2), tmp_path, field)
    name = cell[len(FILE_PREFIX) :]
    assert (
        name.startswith("result.")
        and name.endswith(".npy")
        and len(name) == len("result.") + 12 + 4
    )
    assert [p.name for p in tmp_path.iterdir()] == [name]
    other = tmp_path / "again"
    other.mkdir()
    assert write_result_file(np.arange(2), other, field) == cell  # stable across runs


def test_safe_field_names_are_kept_readable(tmp_path: Path) -> None:
    for field in ("curve", "loss_2", "A-b+c=d", "x" * 64):
        assert write_result_file([{"a": 1}], tmp_path, field) == f"file:result.{field}.json"


def test_fsync_writes_the_same_file(tmp_path: Path) -> None:
    cell = write_result_file(np.arange(5), tmp_path, "a", fsync=True)
    np.testing.assert_array_equal(read_result_file(cell, tmp_path), np.arange(5))
    assert write_result_file(FRAMES["plain"], tmp_path, "f", fsync=True) == "file:result.f.parquet"


# ------------------------------------------------------------------------------ reading


def test_a_missing_file_is_a_damaged_store_error_naming_its_path(tmp_path: Path) -> None:
    with pytest.raises(
        DamagedStoreError, match=f"the file {tmp_path / 'result.npy'}, which is missing"
    ):
        read_result_file("file:result.npy", tmp_path)


@pytest.mark.parametrize("cell", ["file:", "file:../x.npy", "file:/etc/passwd", "file:a//b.npy"])
def test_a_cell_naming_a_path_outside_the_run_is_refused(tmp_path: Path, cell: str) -> None:
    with pytest.raises(DamagedStoreError, match="which is not a path inside its run's directory"):
        read_result_file(cell, tmp_path)


def test_a_result_file_in_a_read_only_directory_is_read(tmp_path: Path) -> None:
    cell = write_result_file(np.arange(4.0), tmp_path)
    os.chmod(tmp_path / "result.npy", stat.S_IRUSR)
    os.chmod(tmp_path, stat.S_IRUSR | stat.S_IXUSR)
    try:
        np.testing.assert_array_equal(read_result_file(cell, tmp_path), np.arange(4.0))
    finally:
        os.chmod(tmp_path, stat.S_IRWXU)


# ----------------------------------------------------------------- result_cells / value


def test_result_cells_keep_small_values_in_cells_and_large_ones_in_files(tmp_path: Path) -> None:
    value = {
        "loss": 0.5,
        "curve": np.arange(3.0),
        "frame": FRAMES["plain"],
        "cfg": {"lr": 0.1, "layers": [1, 2]},
        "pair": (1, "a"),
        "name": "file:looks like one",
    }
    cells = result_cells(value, "fit", None, files=tmp_path)
    assert cells == {
        "result.loss": 0.5,
        "result.curve": "file:result.curve.npy",
        "result.frame": "file:result.frame.parquet",
        "result.cfg": "file:result.cfg.json",
        "result.pair": "(1, 'a')",
        "result.name": "'file:looks like one'",
    }
    back = result_value(cells, None, run_dir=tmp_path)
    assert back.keys() == value.keys()
    assert is_memory_mapped(back["curve"])
    np.testing.assert_array_equal(back["curve"], value["curve"])
    assert back["frame"].equals(value["frame"])
    assert back["cfg"] == value["cfg"] and back["pair"] == (1, "a")
    assert back["name"] == "file:looks like one"


@dataclass
class Fit:
    weights: Any
    score: float


def test_a_dataclass_result_is_rebuilt_with_its_array_field(tmp_path: Path) -> None:
    cells = result_cells(Fit(np.eye(2), 0.9), "fit", Fit, files=tmp_path)
    assert cells == {"result.weights": "file:result.weights.npy", "result.score": 0.9}
    back = result_value(cells, Fit, run_dir=tmp_path)
    assert type(back) is Fit and back.score == 0.9
    np.testing.assert_array_equal(back.weights, np.eye(2))


def test_a_whole_result_is_one_file_named_result(tmp_path: Path) -> None:
    assert result_cells(np.zeros(2), "f", None, files=tmp_path) == {"result": "file:result.npy"}
    cells = result_cells(list(range(400)), "g", None, files=tmp_path)  # too long for a cell
    assert cells == {"result": "file:result.json"}
    assert result_value(cells, None, run_dir=tmp_path) == list(range(400))


def test_without_a_run_directory_todays_rule_holds_and_says_how_to_keep_it() -> None:
    with pytest.raises(TypeError) as refused:
        result_cells({"curve": np.zeros(3)}, "simulate", None)
    message = str(refused.value)
    assert message.startswith("simulate(): stet cannot store the result 'curve' faithfully")
    assert '@stet.once(outputs="data", results=True) keeps it as a file' in message
    assert message.endswith("Nothing was recorded.")


def test_a_value_no_file_keeps_is_refused_with_the_function_and_field(tmp_path: Path) -> None:
    with pytest.raises(TypeError) as refused:
        result_cells({"cfg": {"a": (1, 2)}}, "simulate", None, files=tmp_path)
    assert str(refused.value) == (
        "simulate(): stet cannot store the result 'cfg' faithfully, in a cell or a file: "
        "the value at ['a'] is a tuple, which JSON would give back as a list; to keep it "
        "anyway as a pickle file, pass pickle=True (only unpickle files you trust: loading "
        "one runs code). Nothing was recorded."
    )
    assert list(tmp_path.iterdir()) == []


def test_a_file_cell_without_a_run_directory_is_its_text() -> None:
    """A store written before result files existed keeps its text results as they were."""
    assert result_value({"result": "file:result.npy"}, None) == "file:result.npy"


def test_a_string_starting_with_file_is_a_quoted_literal_cell() -> None:
    for text in ("file:", "file:result.npy", "file:'x'"):
        cell = result_cell_of(text)
        assert cell == repr(text) and not is_file_cell(cell)
        assert result_value_of_cell(cell) == text
    assert result_cell_of("files") == "files" and result_cell_of("a file:") == "a file:"


def test_plain_results_in_files_import_neither_numpy_nor_pandas(tmp_path: Path) -> None:
    code = (
        "import sys, pathlib, stet\n"
        "from stet._results import result_cells, result_value\n"
        "d = pathlib.Path(sys.argv[1])\n"
        "cells = result_cells({'cfg': {'a': [1, {'b': 2}]}}, 'f', None, files=d)\n"
        "assert result_value(cells, None, run_dir=d) == {'cfg': {'a': [1, {'b': 2}]}}\n"
        "print(sorted({'numpy', 'pandas', 'pyarrow'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    assert [p.name for p in tmp_path.iterdir()] == ["result.cfg.json"]


# ------------------------------------------------------------------ through @stet.once


@pytest.mark.parametrize(
    "options",
    [{"pickle": True}, {"pickle": True, "results": True}, {"pickle": True, "outputs": "data"}],
    ids=["alone", "without-outputs", "without-results"],
)
def test_pickle_needs_results_and_outputs_at_decoration(tmp_path: Path, options: Any) -> None:
    with pytest.raises(ValueError) as refused:
        stet.once(store=str(tmp_path / "runs.csv"), **options)
    assert str(refused.value) == (
        "@stet.once: pickle=True pickles results no other file keeps, in the run's outputs "
        'directory, and needs results=True and outputs=: @stet.once(outputs="data", '
        "results=True, pickle=True), or leave pickle off"
    )


def test_a_refused_result_leaves_no_directory_and_no_record(tmp_path: Path) -> None:
    store, data = tmp_path / "runs.csv", tmp_path / "data"
    returned: list[Any] = [{"curve": np.arange(3.0), "cfg": {"a": (1, 2)}}]

    @stet.once(store=str(store), outputs=str(data), results=True, verbose=False, name="simulate")
    def simulate(seed: int) -> Any:
        (stet.output_dir() / "notes.txt").write_text("written by the body")
        return returned[0]

    with pytest.raises(TypeError, match="result 'cfg' faithfully, in a cell or a file"):
        simulate(1)
    assert not (data / "simulate" / "seed=1").exists()
    assert [p for p in data.rglob("*") if p.is_file()] == []  # the written curve went too
    assert not store.exists() or stet.records(str(store)) == []
    returned[0] = {"curve": np.arange(3.0)}
    assert simulate(1)["curve"].tolist() == [0.0, 1.0, 2.0]  # runs again, not claimed
    assert sorted(p.name for p in (data / "simulate" / "seed=1").iterdir()) == [
        "_stet_run.json",
        "notes.txt",
        "result.curve.npy",
    ]
    again = simulate(1)
    assert is_memory_mapped(again["curve"]) and again["curve"].tolist() == [0.0, 1.0, 2.0]


def test_a_value_pickle_cannot_write_is_refused_naming_why(tmp_path: Path) -> None:
    import threading

    with pytest.raises(UnkeptFileError, match="it cannot be pickled either: cannot pickle"):
        write_result_file({"lock": threading.Lock()}, tmp_path, "state", pickle=True)
    assert list(tmp_path.iterdir()) == []
