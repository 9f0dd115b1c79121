"""``f.explain(...)`` and ``stet why``: why a call would run or be skipped, said without
running it, over every format.

Each case of the issue is asserted by the text the explanation contains: a float that
differs in its last digit, ``1`` versus ``True``, ``"1"`` versus ``1``, a parameter added
later (with and without a default), a parameter removed, a function renamed, an empty
store and no store; and the states: completed, failed (``failures="record"`` and
``"skip"``), running in another worker (a real process holding the claim).
"""

from __future__ import annotations

import os
import re
import socket
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from formats import FORMATS
from probes import HOLDERS, Driver, wait_until

import stet
import stet.cli
from stet.formats import redacted


@pytest.fixture(params=FORMATS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store of each format, in a directory of its own (``tmp_path/store/``)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_store"))
    return str(tmp_path / "store" / f"runs.{request.param}")


def exists(location: str) -> bool:
    try:
        stet.records(location)
    except FileNotFoundError:
        return False
    return True


def test_explain_runs_nothing_and_creates_nothing(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = []

    @stet.once(store=location, name="simulate")
    def simulate(alpha: float, seed: int = 0) -> None:
        ran.append(alpha)

    found = simulate.explain(0.1, seed=2)
    assert isinstance(found, stet.Explanation)
    assert (found.state, found.runs, found.record, found.nearest) == ("not run", True, None, [])
    assert found.call == "simulate(alpha=0.1, seed=2)"
    assert found.key == {"alpha": "0.1", "seed": "2"}
    assert str(found) == repr(found) == found.text
    assert found.text.splitlines() == [
        f"simulate(alpha=0.1, seed=2): no store at {redacted(location)}: nothing recorded yet",
        "  key: alpha=0.1, seed=2",
    ]
    assert ran == [] and capsys.readouterr() == ("", "")
    assert not (tmp_path / "store").exists()  # not even its directory
    assert not exists(location)
    simulate(0.1, seed=2)  # and the call itself still runs and records, as before
    assert ran == [0.1]


def test_a_completed_run_is_named_with_its_time(location: str) -> None:
    @stet.once(store=location, verbose=False, name="simulate")
    def simulate(alpha: float, seed: int) -> None:
        pass

    simulate(0.1, 2)
    simulate(0.2, 2)
    found = simulate.explain(alpha=0.1, seed=2)
    (record,) = stet.records(location, {"alpha": 0.1})
    assert found.state == "completed" and not found.runs
    assert found.record == record
    stamp = record["_stet_timestamp"].isoformat()
    assert found.text.splitlines()[0] == (
        f"simulate(alpha=0.1, seed=2): completed at {stamp} in {redacted(location)}, "
        "so a call skips it"
    )


@pytest.mark.parametrize("value", [0.1000000001, 0.1 + 2e-17])
def test_a_float_that_differs_in_its_last_digits_names_the_column(
    location: str, value: float
) -> None:
    @stet.once(store=location, verbose=False, name="simulate")
    def simulate(alpha: float, seed: int) -> None:
        pass

    simulate(0.1, 2)
    simulate(0.5, 2)
    found = simulate.explain(value, 2)
    assert found.state == "not run" and found.runs
    nearest = found.nearest[0]
    assert nearest.record["alpha"] == 0.1  # the close one first, of two at one column
    assert [d.column for d in nearest.differences] == ["alpha"]
    line = f"alpha: 0.1 in the store, {value!r} in this call (close, but stet compares"
    assert line in found.text
    assert "nearest records of simulate (2 of 2; fewest differing: 1 column):" in found.text


def test_one_and_true_are_told_apart(location: str) -> None:
    @stet.once(store=location, verbose=False, name="fit")
    def fit(n: int, flag: Any) -> None:
        pass

    fit(3, 1)
    found = fit.explain(3, True)
    assert found.state == "not run"
    assert (
        "flag: 1 in the store, True in this call (a number in the store, a bool in this "
        "call: stet keeps them apart, bool is its own type)"
    ) in found.text
    back = fit.explain(3, 1.0)  # a number equal to 1 is the same run
    assert back.state == "completed"


def test_a_string_and_a_number_are_told_apart(location: str) -> None:
    @stet.once(store=location, verbose=False, name="fit")
    def fit(n: Any) -> None:
        pass

    fit(1)
    found = fit.explain("1")
    assert found.nearest[0].differences[0].column == "n"
    assert (
        "n: 1 in the store, '1' in this call (a number in the store, a string in this call"
    ) in found.text
    fit("2")
    assert "n: '2' in the store, 2 in this call" in fit.explain(2).text


def test_a_parameter_added_later_with_a_default(location: str) -> None:
    @stet.once(store=location, name="simulate", verbose=False)
    def before(alpha: float) -> None:
        pass

    before(0.1)

    @stet.once(store=location, name="simulate", verbose=False)
    def after(alpha: float, beta: float = 1.0) -> None:
        pass

    same = after.explain(0.1)  # the default makes the old record count
    assert same.state == "completed"
    assert (
        "(the record has no beta: it was recorded before that parameter was added, and "
        "counts as beta=1.0, the default)"
    ) in same.text
    other = after.explain(0.1, beta=2.0)
    assert other.state == "not run"
    assert [d.column for d in other.nearest[0].differences] == ["beta"]
    assert (
        "beta: 2.0 in this call; the record lacks it (a parameter added after it ran?), so "
        "it counts as 1.0, the default"
    ) in other.text


def test_a_parameter_added_later_without_a_default(location: str) -> None:
    @stet.once(store=location, name="simulate", verbose=False)
    def before(alpha: float) -> None:
        pass

    before(0.1)

    @stet.once(store=location, name="simulate", verbose=False)
    def after(alpha: float, beta: float) -> None:
        pass

    found = after.explain(0.1, 1.0)
    assert found.state == "not run"
    assert (
        "beta: 1.0 in this call; the record lacks it (a parameter added after it ran?), and "
        "without a default records that lack it never count"
    ) in found.text


def test_a_parameter_the_records_hold_that_the_function_no_longer_has(location: str) -> None:
    @stet.once(store=location, name="simulate", verbose=False)
    def before(alpha: float, gamma: float) -> None:
        pass

    before(0.1, 0.5)

    @stet.once(store=location, name="simulate", verbose=False)
    def after(alpha: float) -> None:
        pass

    found = after.explain(0.1)
    assert found.state == "not run"
    assert [d.column for d in found.nearest[0].differences] == ["gamma"]
    assert (
        "gamma: 0.5 in the store, not a parameter now: a record that holds it never counts "
        "(a parameter gamma with the default 0.5 would count it)"
    ) in found.text


def test_a_renamed_function_is_pointed_to_its_old_name(location: str) -> None:
    @stet.once(store=location, verbose=False, name="old_simulate")
    def old_simulate(alpha: float, seed: int) -> None:
        pass

    old_simulate(0.1, 2)
    old_simulate(0.2, 2)

    @stet.once(store=location, verbose=False, name="simulate")
    def simulate(alpha: float, seed: int) -> None:
        pass

    found = simulate.explain(0.1, 2)
    assert found.state == "not run"
    text = found.text
    assert f"{redacted(location)} holds no records of simulate, so a call runs it" in text
    assert (
        "old_simulate has 2 records with the same columns (alpha, seed), one with these "
        'very values: if simulate was old_simulate renamed, @stet.once(name="old_simulate") '
        "keeps its runs"
    ) in text
    assert found.nearest == [] and re.search(r"\n  \(line \d+ at \S+ is that run\)", text)
    other = simulate.explain(0.3, 2)  # no run of these values under either name
    assert [(n.function, n.record["alpha"]) for n in other.nearest] == [
        ("old_simulate", 0.2),
        ("old_simulate", 0.1),
    ]
    assert "nearest records of old_simulate (2 of 2; fewest differing: 1 column):" in other.text


def test_an_emptied_store(location: str) -> None:
    @stet.once(store=location, verbose=False, name="simulate")
    def simulate(alpha: float) -> None:
        pass

    simulate(0.1)
    stet.reset(location, confirm=False)
    text = simulate.explain(0.1).text
    name = redacted(location)
    assert (f"no store at {name}: nothing recorded yet" in text) or (
        f"{name} holds no records of simulate" in text and "(the store holds no records yet)"
    ) in text


@pytest.mark.parametrize("failures", ["record", "skip"])
def test_a_failure_record_is_named_with_its_error(location: str, failures: Any) -> None:
    @stet.once(store=location, verbose=False, failures=failures, name="simulate")
    def simulate(alpha: float) -> None:
        raise ValueError(f"diverged at {alpha}")

    with pytest.raises(ValueError, match="diverged"):
        simulate(0.1)
    found = simulate.explain(0.1)
    assert found.state == "failed" and found.error == "ValueError: diverged at 0.1"
    assert found.record is not None and found.record["_stet_error"] == found.error
    head = found.text.splitlines()[0]
    assert " with ValueError: diverged at 0.1; " in head
    if failures == "skip":
        assert not found.runs
        assert 'a call skips it (failures="skip")' in head
    else:
        assert found.runs
        assert 'a call runs it again (failures="record"; with failures="skip" it would skip' in head


HOLD = """
    import os, sys, time
    import stet

    store, gate = sys.argv[1], sys.argv[2]

    @stet.once(store=store, lease=30, name="work")
    def work(i):
        open(gate + ".in", "w").close()
        while not os.path.exists(gate):  # hold the claim until the test opens the gate
            time.sleep(0.01)

    work(1)
"""


def test_a_run_another_worker_holds_is_running_there(location: str, tmp_path: Path) -> None:
    if location.startswith("postgresql://"):
        # before a server store's first record, explain does not read its claims: the
        # book would make its tables to be read. A file store's claims are read as they are.
        stet.once(store=location, name="work", verbose=False)(lambda i: None)(0)
    gate = tmp_path / "gate"
    holder = Driver(textwrap.dedent(HOLD), tmp_path, location, str(gate))
    HOLDERS.append(holder)
    wait_until(lambda: Path(f"{gate}.in").exists(), holder)

    @stet.once(store=location, verbose=False, name="work")
    def work(i: int) -> None:
        raise AssertionError("explain ran the body")

    found = work.explain(1)
    where = f"{socket.gethostname()}, pid {holder.pid}"
    assert (found.state, found.running, found.runs) == ("running", where, False)
    assert f"running now ({where}: its claim in {redacted(location)} holds it)" in found.text
    assert work.explain(2).state == "not run"
    cli = _why(location, "i=1")
    assert cli[0] == 1 and f"running now ({where}" in cli[1]
    gate.touch()
    assert holder.finish()[0] == 0
    assert work.explain(1).state == "completed"


def test_a_call_that_cannot_bind_raises_as_the_call_would(location: str) -> None:
    @stet.once(store=location, name="simulate")
    def simulate(alpha: float, seed: int) -> None:
        pass

    for args, kwargs in [((), {}), ((0.1,), {"alpha": 0.2}), ((object(), 1), {})]:
        with pytest.raises(TypeError) as called:
            simulate(*args, **kwargs)
        with pytest.raises(TypeError) as explained:
            simulate.explain(*args, **kwargs)
        assert str(explained.value) == str(called.value)
    assert not exists(location)


def test_at_most_three_nearest_records_fewest_differences_first(location: str) -> None:
    @stet.once(store=location, verbose=False, name="simulate")
    def simulate(alpha: float, seed: int) -> None:
        pass

    for alpha in (0.1, 0.2, 0.3):
        for seed in (0, 1):
            simulate(alpha, seed)
    found = simulate.explain(0.2, 5)
    assert len(found.nearest) == 3
    assert [len(n.differences) for n in found.nearest] == [1, 1, 2]
    assert [n.record["seed"] for n in found.nearest[:2]] == [1, 0]  # the latest first
    assert {n.record["alpha"] for n in found.nearest[:2]} == {0.2}
    assert "nearest records of simulate (3 of 6; fewest differing: 1 column):" in found.text


# -- stet why, in this process (the console script: tests/as_a_user/test_why.py)


def _why(location: str, *where: str, function: str | None = None) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    named = ["--function", function] if function else []
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = stet.cli.main(["why", location, "--where", *where, *named])
    return code, out.getvalue(), err.getvalue()


def test_why_matches_a_run_by_the_values_as_the_store_shows_them(location: str) -> None:
    @stet.once(store=location, verbose=False, failures="record", name="simulate")
    def simulate(alpha: float, seed: int, label: str = "a") -> None:
        if alpha < 0:
            raise ValueError("negative")

    simulate(0.1, 2)
    simulate(0.2, 2, "b")
    with pytest.raises(ValueError):
        simulate(-1.0, 0)
    name = redacted(location)
    code, out, err = _why(location, "alpha=0.1", "seed=2", "label=a")
    assert (code, err) == (0, "")
    assert out.startswith("alpha=0.1, seed=2, label=a: completed at ")
    assert out.splitlines()[0].endswith(f" in {name} (a run of simulate)")
    code, out, _ = _why(location, "alpha=0.10000000000000002", "seed=2", "label=a")
    assert code == 1
    assert "alpha: 0.1 in the store, 0.10000000000000002 given (close" in out
    code, out, _ = _why(location, "alpha=0.1", "seed=True", "label=a", function="simulate")
    assert code == 1
    assert "seed: 2 in the store, True given (a number in the store, a bool given" in out
    code, out, _ = _why(location, "alpha=0.2", "seed=2", "label='b'")
    assert code == 0  # 'b' and b are one text
    code, out, _ = _why(location, "alpha=0.1", "seed=2")
    assert code == 1 and "label: a in the store, not given (add --where label=...)" in out
    code, out, _ = _why(location, "alpha=-1.0", "seed=0", "label=a")
    assert code == 1 and "failed at " in out and " with ValueError: negative; " in out
    code, out, _ = _why(location, "alpha=0.1", "seed=2", "label=a", "gamma=1")
    assert code == 1 and f"{name} has no column gamma; its columns: alpha, seed, label" in out
    password = urlsplit(location).password
    assert password is None or password not in out


def test_why_without_a_store(location: str) -> None:
    code, out, err = _why(location, "alpha=0.1")
    assert (code, err) == (1, "")
    name = redacted(location)
    assert out == f"alpha=0.1: no store at {name}: nothing recorded yet\n  key: alpha=0.1\n"
    assert not exists(location)


def test_why_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "runs.csv")
    assert stet.cli.main(["why", store]) == 2
    assert "the following arguments are required: --where" in capsys.readouterr().err
    assert stet.cli.main(["why", store, "--where", "alpha"]) == 2
    assert "expected COL=VALUE" in capsys.readouterr().err
    assert stet.cli.main(["why", store, "--where", "a=1", "a=2"]) == 2
    assert "a is given twice" in capsys.readouterr().err
    assert not os.path.exists(store)


def test_explain_makes_no_table_on_a_server(postgres_store: str, postgres_url: str) -> None:
    import psycopg

    @stet.once(store=postgres_store, name="simulate")
    def simulate(alpha: float) -> None:
        pass

    assert simulate.explain(0.1).state == "not run"
    assert _why(postgres_store, "alpha=0.1")[0] == 1
    table = postgres_store.rpartition("table=")[2]
    with psycopg.connect(postgres_url) as con:
        query = "SELECT tablename FROM pg_tables WHERE tablename LIKE %s"
        assert con.execute(query, (f"{table}%",)).fetchall() == []


def test_a_method_is_explained_through_its_class(location: str) -> None:
    class Model:
        @stet.once(store=location, name="Model.fit", verbose=False)
        def fit(self, x: int) -> None:
            pass

    model = Model()
    model.fit(2)
    assert Model.fit.explain(model, 2).state == "completed"  # self is never in the key
    assert Model.fit.explain(None, 3).text.startswith("Model.fit(x=3): not run")


def test_a_completed_run_names_its_outputs(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.csv")

    @stet.once(store=store, outputs=tmp_path / "data", name="simulate", verbose=False)
    def simulate(alpha: float) -> None:
        (stet.output_dir() / "x.txt").write_text("x")

    simulate(0.1)
    found = simulate.explain(0.1)
    assert found.state == "completed" and found.record is not None
    assert found.text.splitlines()[-1] == f"  its outputs: {found.record['_stet_output']}"
    assert (tmp_path / "data").is_dir()
