"""Large results kept as files (``@stet.once(outputs="data", results=True)``), as a user's
script meets them: the first process runs and writes, a second process skips and gets the
equal values back (arrays memory-mapped), in every store format."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import numpy as np
import outside
import pytest
from formats import FORMATS

SWEEP = """
import json, mmap, sys
import numpy as np
import pandas as pd
import stet

@stet.once(store=sys.argv[1], outputs="data", results=True)
def simulate(alpha, seed):
    print("ran", alpha, seed)
    (stet.output_dir() / "result.curve.npy").write_bytes(b"the user's own file")
    rng = np.random.default_rng(seed)
    return {
        "loss": alpha * 2,
        "curve": rng.random(100_000) * alpha,
        "frame": pd.DataFrame({"t": np.arange(3), "v": [alpha] * 3}).set_index("t"),
        "cfg": {"alpha": alpha, "layers": [{"n": 1, "name": "ü"}], "big": 2**80},
        "note": "file:not a file",
    }

@stet.once(store=sys.argv[1], outputs="data", results=True)
def grid(n: int) -> np.ndarray:
    print("ran grid", n)
    return np.asfortranarray(np.arange(n * n, dtype=np.float32).reshape(n, n))

seen = {}
for alpha in (0.1, 0.5):
    r = simulate(alpha, 2)
    curve = r["curve"]
    seen[str(alpha)] = {
        "mapped": isinstance(curve, np.memmap) and isinstance(curve.base, mmap.mmap),
        "writeable": curve.flags.writeable,
        "curve": curve[:5].tolist(),
        "sum": float(curve.sum()),
        "frame": r["frame"].to_dict(),
        "index": r["frame"].index.name,
        "cfg": r["cfg"],
        "loss": r["loss"],
        "note": r["note"],
    }
g = grid(4)
seen["grid"] = {
    "mapped": isinstance(g, np.memmap),
    "fortran": bool(g.flags.f_contiguous),
    "dtype": str(g.dtype),
    "values": g.tolist(),
}
print(json.dumps(seen))
"""


def store_for(request: pytest.FixtureRequest, fmt: str) -> str:
    if fmt == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
        return f"{url}{'&' if '?' in url else '?'}table=u_{secrets.token_hex(6)}"
    return f"runs.{fmt}"


def sweep(store: str, cwd: Path) -> tuple[list[str], dict[str, dict[str, object]]]:
    done = outside.run_script(SWEEP, cwd, store)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    return [line for line in lines if line.startswith("ran")], json.loads(lines[-1])


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_restart_gives_the_arrays_back_memory_mapped(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str
) -> None:
    store = store_for(request, fmt)
    ran, first = sweep(store, tmp_path)
    assert ran == ["ran 0.1 2", "ran 0.5 2", "ran grid 4"]
    assert not first["0.1"]["mapped"]  # the body's own array, the first time
    run_dir = tmp_path / "data" / "simulate" / "alpha=0.1,seed=2"
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == [
        "_stet_run.json",
        "result.cfg.json",
        "result.curve-2.npy",  # the user's result.curve.npy is theirs, kept
        "result.curve.npy",
        "result.frame.parquet",
    ]
    assert (run_dir / "result.curve.npy").read_bytes() == b"the user's own file"
    assert np.load(run_dir / "result.curve-2.npy").shape == (100_000,)
    assert (tmp_path / "data" / "grid" / "n=4" / "result.npy").is_file()

    ran, second = sweep(store, tmp_path)  # another process: every call is skipped
    assert ran == []
    for alpha in ("0.1", "0.5"):
        assert second[alpha]["mapped"] and not second[alpha]["writeable"]
        for field in ("curve", "sum", "frame", "index", "cfg", "loss"):
            assert second[alpha][field] == first[alpha][field], (alpha, field)
        assert second[alpha]["note"] == "file:not a file"  # a string, not a file
    assert second["grid"] == {**first["grid"], "mapped": True}
    assert second["grid"]["fortran"] and second["grid"]["dtype"] == "float32"


def test_a_missing_result_file_is_named_when_the_run_is_skipped(tmp_path: Path) -> None:
    sweep("runs.csv", tmp_path)
    missing = tmp_path / "data" / "simulate" / "alpha=0.5,seed=2" / "result.cfg.json"
    missing.unlink()
    done = outside.run_script(SWEEP, tmp_path, "runs.csv")
    assert done.returncode == 1
    assert f"the stored result of a run is the file {missing}, which is missing" in done.stderr
    assert "Put the file back, or reset the run to run it again." in done.stderr
    assert "ran" not in done.stdout  # nothing ran again behind the user's back


PICKLED = """
import sys
import stet

class Model:
    def __init__(self, w):
        self.w = w

@stet.once(store="runs.csv", outputs="data", results=True, pickle=sys.argv[1] == "pickle")
def fit(w):
    print("ran", w)
    return {"model": Model(w), "score": w / 2}

r = fit(3)
print(type(r["model"]).__name__, r["model"].w, r["score"])
"""


def test_pickle_is_used_only_when_asked_for_by_name(tmp_path: Path) -> None:
    refused = outside.run_script(PICKLED, tmp_path, "no")
    assert refused.returncode == 1
    assert "fit(): stet cannot store the result 'model' faithfully, in a cell or a file" in (
        refused.stderr
    )
    assert "pass pickle=True (only unpickle files you trust" in refused.stderr
    assert not list((tmp_path / "data").rglob("*.pkl")) and not (tmp_path / "runs.csv").exists()
    first = outside.run_script(PICKLED, tmp_path, "pickle")
    assert first.stdout.splitlines() == ["ran 3", "Model 3 1.5"], first.stderr
    assert (tmp_path / "data" / "fit" / "w=3" / "result.model.pkl").is_file()
    again = outside.run_script(PICKLED, tmp_path, "pickle")
    assert again.stdout.splitlines()[-1] == "Model 3 1.5" and "ran" not in again.stdout
