"""Reading a sweep's outputs back: ``_stet_output`` in ``records`` and ``load``,
``stet.outputs``, and result cells that name files (``files=``), in every format.

The stores are written through ``@stet.once(outputs="data")`` into real directories and
read back fresh; a store with hand-written ``file:`` cells stands for one whose results
were kept as files.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import stet

TEXT = "str" if int(pd.__version__.split(".")[0]) >= 3 else "object"
STAMP = "2026-03-12T11:48:59.428485+00:00"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # outputs="data" is below the test's own directory


def sweep(location: str, **options: Any) -> Any:
    """A function with outputs whose runs with alpha > 0.25 raise (failures recorded)."""

    @stet.once(
        store=location, outputs="data", failures="record", verbose=False, name="simulate", **options
    )
    def simulate(alpha: float, seed: int) -> float:
        (stet.output_dir() / "trace.txt").write_text(f"{alpha} {seed}\n")
        if alpha > 0.25:
            raise ValueError("too big")
        return alpha * seed

    for alpha in (0.1, 0.2, 0.3):
        for seed in (1, 2):
            with contextlib.suppress(ValueError):
                simulate(alpha, seed)
    return simulate


def test_records_give_each_run_its_directory_as_an_absolute_path(
    location: str, tmp_path: Path
) -> None:
    sweep(location, results=True)
    found = stet.records(location)
    assert [(r["alpha"], r["seed"]) for r in found] == [(0.1, 1), (0.1, 2), (0.2, 1), (0.2, 2)]
    assert list(found[0]) == ["alpha", "seed", "result", "_stet_output", "_stet_timestamp"]
    for record in found:
        path = record["_stet_output"]
        assert isinstance(path, Path) and path.is_absolute()
        assert (
            path
            == tmp_path / "data" / "simulate" / f"alpha={record['alpha']},seed={record['seed']}"
        )
        assert (path / "trace.txt").read_text() == f"{record['alpha']} {record['seed']}\n"
        assert (path / "_stet_run.json").is_file()
    failures = stet.records(location, failed=True)
    assert [(r["alpha"], r["seed"]) for r in failures] == [(0.3, 1), (0.3, 2)]
    for record in failures:
        aside = record["_stet_output"]
        assert aside.parent.parent.parent == tmp_path / "data" / ".stet-failed"
        assert (aside / "trace.txt").read_text() == f"0.3 {record['seed']}\n"


def test_load_has_the_output_column_as_text_among_stets_own(location: str, tmp_path: Path) -> None:
    sweep(location)
    frame = stet.load(location)
    assert list(frame.columns) == ["alpha", "seed", "_stet_output", "_stet_timestamp"]
    assert str(frame["_stet_output"].dtype) == TEXT
    assert str(frame["alpha"].dtype) == "float64" and str(frame["seed"].dtype) == "int64"
    expected = [str(tmp_path / "data" / "simulate" / f"alpha={a},seed={s}") for a, s in
                [(0.1, 1), (0.1, 2), (0.2, 1), (0.2, 2)]]  # fmt: skip
    assert frame["_stet_output"].tolist() == expected
    failed = stet.load(location, failed=True)
    assert list(failed.columns) == [
        "alpha",
        "seed",
        "_stet_output",
        "_stet_error",
        "_stet_timestamp",
    ]


def test_the_output_column_is_never_a_key(location: str) -> None:
    sweep(location)
    ran = []

    @stet.once(store=location, outputs="data", failures="record", verbose=False, name="simulate")
    def again(alpha: float, seed: int) -> None:
        ran.append((alpha, seed))

    again(0.1, 1)
    again(0.2, 2)
    assert ran == []  # the records' _stet_output made no one of them another run
    with pytest.raises(ValueError, match="no column '_stet_output'"):
        stet.records(location, {"_stet_output": "data/simulate/alpha=0.1,seed=1"})
    with pytest.raises(ValueError, match="no column '_stet_output'"):
        stet.reset(location, {"_stet_output": "x"}, confirm=False)
    from stet._admin import status_data

    assert status_data(location)["key_columns"] == ["alpha", "seed"]


def test_a_store_of_two_functions_has_the_column_only_where_a_run_has_outputs(
    location: str,
) -> None:
    sweep(location)

    @stet.once(store=location, verbose=False, name="plain")
    def plain(alpha: float, seed: int) -> None:
        pass

    plain(5.0, 5)
    found = stet.records(location)
    assert "_stet_output" not in found[-1] and found[-1]["_stet_function"] == "plain"
    assert all(isinstance(r["_stet_output"], Path) for r in found[:-1])
    frame = stet.load(location)
    assert frame["_stet_output"].isna().tolist() == [False] * 4 + [True]
    assert "_stet_output" not in stet.records(location, function="plain")[0]
    assert list(stet.load(location, function="plain").columns) == [
        "alpha",
        "seed",
        "_stet_timestamp",
    ]


# ------------------------------------------------------------------------ stet.outputs


def test_outputs_gives_completed_runs_with_their_directories_only(
    location: str, tmp_path: Path
) -> None:
    sweep(location, results=True)

    @stet.once(store=location, verbose=False, name="plain")
    def plain(alpha: float, seed: int) -> None:
        pass

    plain(5.0, 5)
    stray = tmp_path / "data" / "simulate" / "alpha=9,seed=9"  # no record names it
    stray.mkdir()
    pairs = list(stet.outputs(location))
    assert [p for p, _ in pairs] == [
        {"alpha": 0.1, "seed": 1},
        {"alpha": 0.1, "seed": 2},
        {"alpha": 0.2, "seed": 1},
        {"alpha": 0.2, "seed": 2},
    ]  # no result, no stet column, no failure, no run without outputs
    for parameters, path in pairs:
        assert (
            path
            == tmp_path
            / "data"
            / "simulate"
            / f"alpha={parameters['alpha']},seed={parameters['seed']}"
        )
        assert (path / "trace.txt").read_text() == f"{parameters['alpha']} {parameters['seed']}\n"
    assert stray not in [path for _, path in pairs]


def test_outputs_chooses_by_key_dict_and_function(location: str) -> None:
    sweep(location)
    chosen = [(p["alpha"], p["seed"]) for p, _ in stet.outputs(location, {"seed": 2})]
    assert chosen == [(0.1, 2), (0.2, 2)]
    as_text = [p for p, _ in stet.outputs(location, {"alpha": "0.2"}, function="simulate")]
    assert as_text == [{"alpha": 0.2, "seed": 1}, {"alpha": 0.2, "seed": 2}]
    assert list(stet.outputs(location, {"alpha": 0.3})) == []  # only failures have 0.3
    assert list(stet.outputs(location, function="other")) == []


def test_outputs_refuses_at_the_call_not_at_the_first_step(location: str, tmp_path: Path) -> None:
    sweep(location)
    with pytest.raises(ValueError, match="no column 'beta'"):
        stet.outputs(location, {"beta": 1})  # not iterated: the error comes now
    with pytest.raises(FileNotFoundError):
        stet.outputs(str(tmp_path / "none.csv"))


def test_the_three_lines_read_a_sweep(location: str) -> None:
    sweep(location)
    means = {}
    for parameters, path in stet.outputs(location):
        means[parameters["alpha"], parameters["seed"]] = (path / "trace.txt").read_text().split()
    assert means[0.2, 2] == ["0.2", "2"] and len(means) == 4


# ------------------------------------------------------------------------ files=


def handmade(tmp_path: Path) -> Path:
    """A CSV store whose results name files in the runs' directories."""
    store = tmp_path / "made.csv"
    store.write_text(
        "alpha,result.trace,result.n,_stet_output,_stet_timestamp\n"
        f"0.1,file:result.trace.npy,3,data/f/alpha=0.1,{STAMP}\n"
        f"0.2,file:sub/result.trace.npy,4,/elsewhere/f/alpha=0.2,{STAMP}\n"
        f"0.3,'file:not a file',5,,{STAMP}\n"
    )
    return store


def test_a_file_result_is_its_files_absolute_path(tmp_path: Path) -> None:
    store = handmade(tmp_path)
    found = stet.records(store)
    assert found[0]["result.trace"] == tmp_path / "data" / "f" / "alpha=0.1" / "result.trace.npy"
    assert found[1]["result.trace"] == Path("/elsewhere/f/alpha=0.2/sub/result.trace.npy")
    assert found[2]["result.trace"] == "file:not a file"  # a string result stays one
    assert [r["result.n"] for r in found] == [3, 4, 5]
    frame = stet.load(store)
    assert frame["result.trace"].tolist() == [
        str(tmp_path / "data" / "f" / "alpha=0.1" / "result.trace.npy"),
        "/elsewhere/f/alpha=0.2/sub/result.trace.npy",
        "file:not a file",
    ]
    assert frame["_stet_output"].tolist()[:2] == [
        str(tmp_path / "data" / "f" / "alpha=0.1"),
        "/elsewhere/f/alpha=0.2",
    ]
    assert stet.records(store, files="paths") == found


def test_a_wrong_files_choice_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='files must be "paths"'):
        stet.records(tmp_path / "none.csv", files="arrays")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r'stet\.load: files must be "paths"'):
        stet.load(tmp_path / "none.csv", files="array")  # type: ignore[arg-type]
    assert not os.path.exists(tmp_path / "none.csv")


def arrays(location: str) -> Any:
    """Runs whose results are an array, a frame and nested data: kept as files."""
    import numpy as np

    @stet.once(store=location, outputs="data", results=True, verbose=False, name="fit")
    def fit(alpha: float) -> dict[str, Any]:
        return {
            "trace": np.arange(4) * alpha,
            "table": pd.DataFrame({"x": [alpha, 2 * alpha]}),
            "meta": {"steps": [1, 2, {"deep": alpha}]},
            "loss": alpha / 2,
        }

    fit(1.0)
    fit(2.0)
    return fit


def test_result_files_are_paths_by_default_and_values_when_asked(
    location: str, tmp_path: Path
) -> None:
    import numpy as np

    arrays(location)
    found = stet.records(location)
    run = tmp_path / "data" / "fit" / "alpha=1.0"
    assert found[0]["_stet_output"] == run
    assert found[0]["result.trace"] == run / "result.trace.npy"
    assert found[0]["result.table"] == run / "result.table.parquet"
    assert found[0]["result.meta"] == run / "result.meta.json"
    assert found[0]["result.loss"] == 0.5
    assert all(isinstance(found[0][c], Path) for c in ("result.trace", "result.table"))
    assert all(path.is_file() for path in (found[1]["result.trace"], found[1]["result.meta"]))

    read = stet.records(location, files="values")
    assert np.array_equal(read[1]["result.trace"], np.arange(4) * 2.0)
    assert isinstance(read[1]["result.trace"], np.memmap)  # not read until used
    assert read[1]["result.table"].equals(pd.DataFrame({"x": [2.0, 4.0]}))
    assert read[0]["result.meta"] == {"steps": [1, 2, {"deep": 1.0}]}
    assert read[0]["result.loss"] == 0.5

    frame = stet.load(location)
    assert str(frame["result.trace"].dtype) == TEXT
    assert frame["result.trace"].tolist() == [
        str(tmp_path / "data" / "fit" / f"alpha={a}" / "result.trace.npy") for a in (1.0, 2.0)
    ]
    values = stet.load(location, files="values")
    assert values["result.trace"].dtype == object
    assert [float(t.sum()) for t in values["result.trace"]] == [6.0, 12.0]
    assert str(values["result.loss"].dtype) == "float64"
    pairs = list(stet.outputs(location))
    assert pairs == [({"alpha": 1.0}, run), ({"alpha": 2.0}, run.parent / "alpha=2.0")]


def test_a_missing_result_file_is_named_when_read(location: str, tmp_path: Path) -> None:
    arrays(location)
    (tmp_path / "data" / "fit" / "alpha=2.0" / "result.trace.npy").unlink()
    assert len(stet.records(location)) == 2  # its path is still given
    with pytest.raises(stet.DamagedStoreError, match=r"stet\.load: .*result\.trace\.npy"):
        stet.load(location, files="values")


def test_a_pickled_result_is_read_only_with_pickle_true(tmp_path: Path) -> None:
    @stet.once(store="p.csv", outputs="data", results=True, pickle=True, verbose=False)
    def made(n: int) -> Any:
        return {"thing": complex(n, 1)}

    made(3)
    with pytest.raises(TypeError, match=r"pass pickle=True to stet\.records"):
        stet.records("p.csv", files="values")
    assert stet.records("p.csv", files="values", pickle=True)[0]["result.thing"] == 3 + 1j
    assert stet.records("p.csv")[0]["result.thing"].suffix == ".pkl"
