"""Values at the edges of their types, as a user's script meets them across a restart.

Each script runs in a fresh interpreter; the second run is a restart. Values stet cannot
keep are refused before the body runs (its side-effect file stays absent) and the store
keeps what it had.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import outside
import pytest
from formats import FORMATS

SWEEP = """
import sys
import numpy as np
import pandas as pd
import stet

@stet.once(store=sys.argv[1], ignore=["label"])
def f(x, label):
    print("ran", label)

for label in sys.argv[2:]:
    f(eval(label), label)
"""


def store_for(request: pytest.FixtureRequest, fmt: str) -> str:
    if fmt == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
        return f"{url}{'&' if '?' in url else '?'}table=u_{secrets.token_hex(6)}"
    return f"runs.{fmt}"


def ran(store: str, cwd: Path, *labels: str) -> list[str]:
    """Run the sweep over these values (Python expressions); the labels whose body ran."""
    done = outside.run_script(SWEEP, cwd, store, *labels)
    assert done.returncode == 0, done.stderr
    return [line[4:] for line in done.stdout.splitlines() if line.startswith("ran ")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_values_at_the_edges_are_skipped_after_a_restart_and_only_then(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str
) -> None:
    store = store_for(request, fmt)
    recorded = [
        "10**400",
        "-(10**400)",
        "2**53 + 1",
        "2**63",
        "np.uint64(2**64 - 1)",
        "np.timedelta64(1, 'D')",
        "np.datetime64('10000-01-01')",
        "pd.Timedelta(1, 'ns')",
        "[[[1]]]",
    ]
    assert ran(store, tmp_path, *recorded) == recorded
    probes = [
        "float('inf')",  # was skipped falsely: 10**400 came back as inf
        "float('-inf')",
        "float(2**53)",
        "253402300800000000",  # the microseconds of 10000-01-01 since 1970
        "86400",
        "pd.Timedelta(0)",  # was skipped falsely: the nanosecond was lost
        "[[[1, 2]]]",
        "np.timedelta64(24, 'h')",  # the same day: skipped
        "10**400",  # ran again before
        "-(10**400)",
        "2**53 + 1",
        "float(2**63)",
        "2**64 - 1",
        "np.datetime64('10000-01-01T00:00', 'm')",
        "np.timedelta64(1, 'ns')",
        "([(1,)],)",
    ]
    assert ran(store, tmp_path, *probes) == probes[:7]


REFUSED = """
import sys
import stet

@stet.once(store=sys.argv[1])
def g(x):
    pass

g(1)

@stet.once(store=sys.argv[1])
def {signature}:
    open("body-ran", "w").close()

f({arguments})
"""


@pytest.mark.parametrize(
    ("fmt", "signature", "arguments", "error"),
    [
        ("sqlite", "f(A, a)", "1, 2", "parameter 'a' cannot be a column"),
        ("sqlite", "f(X)", "1", "parameter 'X' cannot be a column"),
        ("postgresql", f"f({'p' * 64})", "1", "63 bytes"),
        ("postgresql", "f(xmin)", "1", "system column"),
        ("csv", "f(n)", "10**5000", "parameter 'n' cannot be part of a run's key"),
    ],
)
def test_what_a_store_cannot_keep_is_refused_before_the_body(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fmt: str,
    signature: str,
    arguments: str,
    error: str,
) -> None:
    store = store_for(request, fmt)
    code = REFUSED.format(signature=signature, arguments=arguments)
    done = outside.run_script(code, tmp_path, store)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert error in last and ("ValueError" in last or "TypeError" in last), done.stderr
    assert "ignore=[" in last  # the way out
    assert not (tmp_path / "body-ran").exists()
    shown = outside.run_cli(["status", store], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "1 completed experiment recorded" in shown.stdout  # g's run, nothing more


CHANGES_ITS_ARGUMENT = """
import sys
import numpy as np
import stet

@stet.once
def normalise(weights, history):
    print("ran", weights.tolist(), history)
    weights /= weights.sum()  # in place, as NumPy code often does
    history.append("normalised")

for value in sys.argv[1:]:
    normalise(np.array(eval(value)), [])
"""


def test_a_body_that_changes_its_argument_is_skipped_after_a_restart(tmp_path: Path) -> None:
    first = outside.run_script(CHANGES_ITS_ARGUMENT, tmp_path, "[1.0, 3.0]")
    assert first.returncode == 0, first.stderr
    assert "ran [1.0, 3.0] []" in first.stdout
    again = outside.run_script(CHANGES_ITS_ARGUMENT, tmp_path, "[1.0, 3.0]", "[0.25, 0.75]")
    assert again.returncode == 0, again.stderr
    assert outside.stet_lines(again.stdout) == [
        "[stet] Skipping normalise(weights=array([1., 3.]), history=[])"
    ]
    assert "ran [0.25, 0.75] []" in again.stdout  # never called before: it runs


def test_a_long_key_runs_once_on_postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    store = store_for(request, "postgresql")
    long = ["tuple(range(1000))", "'x' * 9000 + 'y'"]
    assert ran(store, tmp_path, *long) == long  # was refused as a 'connection' error
    assert ran(store, tmp_path, *long) == []
