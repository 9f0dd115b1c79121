"""The decorator's surface: binding, keys, methods, async, errors, messages."""

from __future__ import annotations

import asyncio
import csv
import inspect
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import stet


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def rows(path: str | Path = "_stet_store.csv") -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def counting(store: str = "_stet_store.csv", **options: Any) -> tuple[Any, list[Any]]:
    calls: list[Any] = []

    def experiment(alpha: Any, beta: Any = 10) -> Any:
        calls.append((alpha, beta))
        return alpha

    return stet.once(store=store, **options)(experiment), calls


def test_bare_decorator_records_and_skips(capsys: pytest.CaptureFixture[str]) -> None:
    calls = []

    @stet.once
    def calculation(alpha: float, beta: float) -> float:
        calls.append((alpha, beta))
        return alpha + beta

    assert calculation(1.0, 2.0) == 3.0
    assert calculation(1.0, 2.0) is None
    assert calls == [(1.0, 2.0)]
    assert capsys.readouterr().out == "[stet] Skipping calculation(alpha=1.0, beta=2.0)\n"
    assert rows()[0] == ["alpha", "beta", "_stet_timestamp"]
    assert rows()[1][:2] == ["1.0", "2.0"]


def test_wrapper_keeps_name_doc_signature_and_exposes_store() -> None:
    @stet.once(store="runs.csv")
    def calculation(alpha: float, beta: float = 1.0) -> None:
        """Docstring."""

    assert calculation.__name__ == "calculation"
    assert calculation.__doc__ == "Docstring."
    signature = inspect.signature(calculation)
    assert list(signature.parameters) == ["alpha", "beta"]
    assert signature.parameters["beta"].default == 1.0
    assert calculation.store == "runs.csv"


def test_defaults_are_applied_to_the_key() -> None:
    experiment, calls = counting()
    experiment(1)
    experiment(1, beta=10)
    experiment(alpha=1, beta=10)
    experiment(1, 10)
    experiment(1, 11)
    assert calls == [(1, 10), (1, 11)]


def test_binding_errors_are_the_functions_own() -> None:
    experiment, calls = counting()
    with pytest.raises(TypeError, match="alpha"):
        experiment()
    with pytest.raises(TypeError, match="gamma"):
        experiment(1, gamma=2)
    with pytest.raises(TypeError):
        experiment(1, 2, 3)
    with pytest.raises(TypeError, match="multiple values"):
        experiment(1, alpha=2)
    assert calls == []


def test_key_and_ignore_choose_the_columns() -> None:
    calls = []

    @stet.once(key=["alpha", "seed"])
    def run(alpha: float, seed: int, verbose: bool = False) -> None:
        calls.append(verbose)

    run(0.1, 1, verbose=True)
    run(0.1, 1, verbose=False)
    assert calls == [True]
    assert rows()[0] == ["alpha", "seed", "_stet_timestamp"]

    @stet.once(store="other.csv", ignore=["verbose"])
    def other(alpha: float, seed: int, verbose: bool = False) -> None:
        calls.append(verbose)

    other(0.1, 1, True)
    other(0.1, 1, False)
    assert rows("other.csv")[0] == ["alpha", "seed", "_stet_timestamp"]
    assert calls == [True, True]


@pytest.mark.parametrize("option", ["key", "ignore"])
def test_unknown_names_fail_at_decoration(option: str) -> None:
    def run(alpha: float, seed: int) -> None: ...

    with pytest.raises(ValueError, match=r"'sede'.*parameters are: alpha, seed"):
        stet.once(**{option: ["sede"]})(run)


def test_key_and_ignore_together_are_refused() -> None:
    def run(alpha: float, seed: int) -> None: ...

    with pytest.raises(ValueError, match="not both"):
        stet.once(key=["alpha"], ignore=["seed"])(run)


def test_var_positional_and_keyword_parameters() -> None:
    calls = []

    @stet.once
    def run(a: int, *rest: int, **options: Any) -> None:
        calls.append((a, rest, options))

    run(1, 2, 3, x=1, y=2)
    run(1, 2, 3, y=2, x=1)
    run(1, 2, x=1, y=2)
    assert len(calls) == 2


def test_methods_leave_self_and_cls_out_of_the_key() -> None:
    calls = []

    class Model:
        def __init__(self, name: str) -> None:
            self.name = name

        @stet.once
        def fit(self, rate: float) -> str:
            calls.append((self.name, rate))
            return self.name

        @classmethod
        @stet.once(store="cls.csv")
        def build(cls, size: int) -> int:
            calls.append(size)
            return size

    assert Model("a").fit(0.1) == "a"
    assert Model("b").fit(0.1) is None
    assert Model.build(3) == 3
    assert Model.build(3) is None
    assert calls == [("a", 0.1), 3]
    assert rows()[0] == ["rate", "_stet_timestamp"]


def test_async_functions() -> None:
    calls = []

    @stet.once
    async def fetch(alpha: float) -> float:
        await asyncio.sleep(0)
        calls.append(alpha)
        return alpha * 2

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(fetch(1.5)) == 3.0
    assert asyncio.run(fetch(1.5)) is None
    assert calls == [1.5]


def test_exception_propagates_unchanged_and_marks_nothing_done() -> None:
    error = RuntimeError("diverged")
    attempts = []

    @stet.once
    def unstable(alpha: float) -> None:
        attempts.append(alpha)
        if len(attempts) == 1:
            raise error

    with pytest.raises(RuntimeError) as caught:
        unstable(0.5)
    assert caught.value is error
    assert not os.path.exists("_stet_store.csv") or len(rows()) == 1
    unstable(0.5)
    unstable(0.5)
    assert attempts == [0.5, 0.5]


def test_unsupported_argument_names_the_parameter_and_the_way_out() -> None:
    class Model:
        pass

    experiment, calls = counting()
    with pytest.raises(TypeError, match=r"'beta'.*ignore=\['beta'\]"):
        experiment(1, Model())
    assert calls == []


def test_pickles_by_reference() -> None:
    clone = pickle.loads(pickle.dumps(module_level))
    assert clone is module_level


@stet.once(store="module_level.csv")
def module_level(x: int) -> int:
    return x


def test_relative_store_is_fixed_at_decoration(tmp_path: Path) -> None:
    experiment, _ = counting(store="runs.csv")
    (tmp_path / "elsewhere").mkdir()
    os.chdir(tmp_path / "elsewhere")
    experiment(1)
    assert (tmp_path / "runs.csv").exists()
    assert not (tmp_path / "elsewhere" / "runs.csv").exists()


def test_fsync_option_records() -> None:
    experiment, calls = counting(fsync=True)
    experiment(1)
    experiment(1)
    assert len(calls) == 1
    assert len(rows()) == 2


def test_bad_options_are_refused() -> None:
    with pytest.raises(TypeError, match="store"):
        stet.once(store=3)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="skip_lines"):
        stet.once(skip_lines=-1)
    with pytest.raises(TypeError, match="list of parameter names"):
        stet.once(key="alpha")(lambda alpha: None)


# ------------------------------------------------------------------- messages


def test_skip_streaks_are_condensed(capsys: pytest.CaptureFixture[str]) -> None:
    experiment, _ = counting(skip_lines=3)
    for i in range(8):
        experiment(i)
    capsys.readouterr()
    for i in range(8):
        experiment(i)
    experiment(100)  # a run ends the streak
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "[stet] Skipping experiment(alpha=0, beta=10)",
        "[stet] Skipping experiment(alpha=1, beta=10)",
        "[stet] Skipping experiment(alpha=2, beta=10)",
        "[stet] Skipped 5 more completed runs of experiment",
    ]


def test_streak_summary_is_printed_at_exit(tmp_path: Path) -> None:
    out = run_script(
        tmp_path,
        """
        import stet

        @stet.once
        def calculation(alpha):
            pass

        for i in range(10_025):
            calculation(i)
        for i in range(10_025):
            calculation(i)
        """,
    )
    lines = out.splitlines()
    assert lines[:10] == [f"[stet] Skipping calculation(alpha={i})" for i in range(10)]
    assert lines[10:] == ["[stet] Skipped 10,015 more completed runs of calculation"]


def test_verbose_false_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    experiment, calls = counting(verbose=False)
    experiment(1)
    experiment(1)
    assert capsys.readouterr().out == ""
    assert len(calls) == 1


# ----------------------------------------------------------- shared stores, layout


def test_two_functions_on_one_store_never_skip_each_other() -> None:
    ran = []

    @stet.once
    def simulate(alpha: float, beta: float) -> None:
        ran.append("simulate")

    @stet.once
    def analyse(alpha: float, beta: float) -> None:
        ran.append("analyse")

    simulate(0.1, 0.2)
    assert rows()[0] == ["alpha", "beta", "_stet_timestamp"]
    analyse(0.1, 0.2)
    simulate(0.1, 0.2)
    analyse(0.1, 0.2)
    assert ran == ["simulate", "analyse"]
    table = rows()
    assert table[0] == ["alpha", "beta", "_stet_function", "_stet_timestamp"]
    assert [row[2] for row in table[1:]] == [
        "test_two_functions_on_one_store_never_skip_each_other.<locals>.simulate",
        "test_two_functions_on_one_store_never_skip_each_other.<locals>.analyse",
    ]


def run_script(tmp_path: Path, source: str) -> str:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_function_with_the_same_parameters_in_a_later_process_does_not_skip(
    tmp_path: Path,
) -> None:
    run_script(
        tmp_path,
        """
        import stet
        @stet.once
        def simulate(alpha):
            print("ran simulate")
        simulate(1)
        """,
    )
    out = run_script(
        tmp_path,
        """
        import stet
        @stet.once
        def analyse(alpha):
            print("ran analyse")
        analyse(1)
        analyse(1)
        """,
    )
    assert out.splitlines() == ["ran analyse", "[stet] Skipping analyse(alpha=1)"]


def test_added_parameter_with_default_counts_old_records(tmp_path: Path) -> None:
    run_script(tmp_path, "import stet\n@stet.once\ndef f(a):\n    pass\nf(1)\nf(2)\n")
    out = run_script(
        tmp_path,
        "import stet\n@stet.once\ndef f(a, b=0.5):\n    print('ran', a, b)\nf(1)\nf(1, b=0.7)\n",
    )
    assert out.splitlines() == [
        "[stet] f: 2 earlier records lack b, now in its key; they count as runs with b=0.5, "
        "its default",
        # issue 13: the code of f changed (a parameter was added), said once before the skip
        "[stet] f's code has changed since its 2 runs were recorded; they still count as done "
        "(f.reset() runs them again)",
        "[stet] Skipping f(a=1, b=0.5)",
        "ran 1 0.7",
    ]


def test_added_parameter_without_default_matches_nothing(tmp_path: Path) -> None:
    run_script(tmp_path, "import stet\n@stet.once\ndef f(a):\n    pass\nf(1)\n")
    out = run_script(
        tmp_path, "import stet\n@stet.once\ndef f(a, b):\n    print('ran', a, b)\nf(1, 2)\n"
    )
    assert out.splitlines() == [
        "[stet] f: 1 earlier record lacks b, now in its key; no call matches it, as b has no "
        "default",
        "ran 1 2",
    ]
    assert rows(tmp_path / "_stet_store.csv")[0] == ["a", "b", "_stet_timestamp"]


def test_removed_parameter_old_records_do_not_count(tmp_path: Path) -> None:
    run_script(tmp_path, "import stet\n@stet.once\ndef f(a, b):\n    pass\nf(1, 2)\n")
    out = run_script(
        tmp_path, "import stet\n@stet.once\ndef f(a):\n    print('ran', a)\nf(1)\nf(1)\n"
    )
    lines = out.splitlines()
    assert lines[0] == (
        "[stet] f: 1 earlier record holds b, which is no longer in its key; it does not count "
        "as done (put b back in the key, or remove it with stet.reset)"
    )
    assert lines[1:] == ["ran 1", "[stet] Skipping f(a=1)"]


# ------------------------------------------------------------------- status, reset


def test_status_lines(capsys: pytest.CaptureFixture[str]) -> None:
    experiment, _ = counting(store="runs.csv")
    experiment(1)
    experiment(2)
    capsys.readouterr()
    stet.status("runs.csv")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[stet] Store: runs.csv"
    assert out[1] == "[stet] 2 completed experiments recorded"
    last = rows("runs.csv")[-1][-1]
    assert out[2] == f"[stet] Last run: {last}"
    assert out[3] == "[stet] Key columns: alpha, beta"
    experiment.status()
    assert "2 completed experiments of" in capsys.readouterr().out


def test_status_of_a_missing_store_names_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    stet.status("nowhere.csv")  # one line, as reset says it (issue 13)
    assert "No store at nowhere.csv" in capsys.readouterr().out


def test_reset_all_and_rerun(capsys: pytest.CaptureFixture[str]) -> None:
    experiment, calls = counting()
    experiment(1)
    stet.reset()
    assert capsys.readouterr().out.endswith("[stet] Store cleared: _stet_store.csv\n")
    assert not Path("_stet_store.csv").exists()  # issue 13: a full reset removes the file
    experiment(1)
    assert len(calls) == 2


@pytest.mark.parametrize("given", [0.5, "0.5", np.float64(0.5)])
def test_reset_one_run_by_value_or_text(given: Any) -> None:
    experiment, calls = counting()
    experiment(0.5)
    experiment(0.25)
    stet.reset(key_dict={"alpha": given})
    experiment(0.5)
    experiment(0.25)
    assert calls == [(0.5, 10), (0.25, 10), (0.5, 10)]


def test_reset_unknown_column_changes_nothing() -> None:
    experiment, _ = counting()
    experiment(1)
    before = Path("_stet_store.csv").read_bytes()
    with pytest.raises(ValueError, match=r"no column 'gamma'.*alpha, beta"):
        stet.reset(key_dict={"gamma": 1})
    assert Path("_stet_store.csv").read_bytes() == before


def test_wrapper_reset_touches_only_its_own_runs() -> None:
    ran = []

    @stet.once
    def first(alpha: float) -> None:
        ran.append("first")

    @stet.once
    def second(alpha: float) -> None:
        ran.append("second")

    first(1.0)
    second(1.0)
    first.reset(alpha=1.0)
    first(1.0)
    second(1.0)
    assert ran == ["first", "second", "first"]


def test_reset_asks_on_a_terminal_only(tmp_path: Path) -> None:
    """Standard input that is not a terminal: no question, the store is cleared."""
    run_script(tmp_path, "import stet\n@stet.once\ndef f(a):\n    pass\nf(1)\n")
    out = run_script(tmp_path, "import stet\nstet.reset()\n")
    assert out == "[stet] Store cleared: _stet_store.csv\n"


# --------------------------------------------------------------- damaged stores


def test_a_csv_without_timestamp_column_is_refused_untouched() -> None:
    Path("_stet_store.csv").write_text("alpha,beta\n1,2\n")
    experiment, calls = counting()
    with pytest.raises(stet.DamagedStoreError, match="_stet_timestamp"):
        experiment(1)
    assert Path("_stet_store.csv").read_text() == "alpha,beta\n1,2\n"
    assert calls == []


def test_a_row_with_the_wrong_width_is_named_by_line() -> None:
    text = (
        "alpha,beta,_stet_timestamp\n"
        "1,10,2026-03-12T11:48:59.428485+00:00\n"
        "2,10,extra,2026-03-12T11:48:59.428485+00:00\n"
    )
    Path("_stet_store.csv").write_text(text)
    experiment, _ = counting()
    with pytest.raises(stet.DamagedStoreError, match="line 3 has 4 cells"):
        experiment(1)
    assert Path("_stet_store.csv").read_text() == text


def test_garbage_bytes_are_refused_untouched() -> None:
    data = b"alpha,beta,_stet_timestamp\n1,10,2026\xff\xfe\n"
    Path("_stet_store.csv").write_bytes(data)
    experiment, _ = counting()
    with pytest.raises(stet.DamagedStoreError, match="not UTF-8"):
        experiment(1)
    assert Path("_stet_store.csv").read_bytes() == data


def test_hand_written_store_is_claimed_by_the_first_function(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Path("_stet_store.csv").write_text("alpha,beta,_stet_timestamp\n1,10,2026-03-12T11:48:59Z\n")
    experiment, calls = counting()
    experiment(1)
    assert calls == []
    out = capsys.readouterr().out
    assert "does not say which function wrote it" in out


def run_on_a_terminal(tmp_path: Path, code: str, answer: str = "") -> str:
    """Run ``code`` with a real pseudo-terminal as standard input, typing ``answer``."""
    primary, secondary = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            stdin=secondary,
            stdout=subprocess.PIPE,
            text=True,
        )
        if answer:
            os.write(primary, f"{answer}\n".encode())
        out, _ = process.communicate(timeout=60)
    finally:
        os.close(primary)
        os.close(secondary)
    return out


@pytest.mark.parametrize(("answer", "kept"), [("n", True), ("y", False)])
def test_reset_asks_on_an_interactive_terminal(tmp_path: Path, answer: str, kept: bool) -> None:
    """On a terminal, reset asks, and only "y" clears."""
    run_script(tmp_path, "import stet\n@stet.once\ndef f(a):\n    pass\nf(1)\n")
    out = run_on_a_terminal(tmp_path, "import stet; stet.reset()", answer)
    assert "Clear all 1 run from _stet_store.csv? [y/N]" in out
    # issue 13: a full reset removes the store, and "no" says Aborted
    if kept:
        assert len(rows(tmp_path / "_stet_store.csv")) == 2
    else:
        assert not (tmp_path / "_stet_store.csv").exists()
    assert ("Aborted" in out) == kept


def test_store_in_a_new_directory_is_created_before_the_run() -> None:
    experiment, calls = counting(store="runs/fits.csv")
    experiment(1)
    experiment(1)
    assert len(calls) == 1
    assert rows("runs/fits.csv")[0] == ["alpha", "beta", "_stet_timestamp"]


def test_reset_with_a_dict_in_place_of_the_store_says_what_to_do() -> None:
    with pytest.raises(TypeError, match="key_dict="):
        stet.reset({"alpha": 0.1})  # type: ignore[arg-type]


def test_reset_confirm_false_never_asks(tmp_path: Path) -> None:
    run_script(tmp_path, "import stet\n@stet.once\ndef f(a):\n    pass\nf(1)\n")
    out = run_on_a_terminal(tmp_path, "import stet; stet.reset(confirm=False)")
    assert out == "[stet] Store cleared: _stet_store.csv\n"


def test_skip_lines_zero_condenses_everything(capsys: pytest.CaptureFixture[str]) -> None:
    experiment, _ = counting(skip_lines=0)
    experiment(1)
    experiment(2)
    capsys.readouterr()
    experiment(1)
    experiment(2)
    experiment(3)
    assert capsys.readouterr().out == "[stet] Skipped 2 completed runs of experiment\n"


def test_timestamps_are_iso_utc_with_microseconds() -> None:
    from datetime import UTC, datetime, timedelta

    from stet._columns import now_text

    before = datetime.now(UTC)
    text = now_text()
    after = datetime.now(UTC)
    stamp = datetime.fromisoformat(text)
    assert text == stamp.isoformat(timespec="microseconds")
    assert stamp.utcoffset() == timedelta(0)
    assert before - timedelta(milliseconds=1) <= stamp <= after + timedelta(milliseconds=1)


def test_a_deleted_lock_file_is_made_anew(tmp_path: Path) -> None:
    from stet._lock import StoreLock

    path = str(tmp_path / "x.lock")
    lock = StoreLock(path)
    with lock:
        pass
    os.remove(path)
    with lock:
        assert os.path.exists(path)


def test_a_store_is_read_in_pieces_across_line_boundaries() -> None:
    """Opening reads a few MiB at a time; a new process with tiny pieces skips them all."""
    experiment, _ = counting(store="pieces.csv", verbose=False)
    values = [i / 7 for i in range(300)] + ["a, b", 'q"q', "x" * 500]
    for value in values:
        experiment(value)
    with open("pieces.csv", "ab") as store:
        store.write(b"0.5,10,2026-03-1")  # a torn tail after the last piece
    run = subprocess.run(
        [sys.executable, "-c", PIECES_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "VALUES": repr(values)},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "ran []"
    assert "Set aside a torn last line" in run.stdout


PIECES_SCRIPT = """
import os, stet, stet._storeread
stet._storeread._READ_ROWS = 2  # read the store a few records at a time
ran = []
def experiment(alpha, beta=10):
    ran.append(alpha)
experiment.__qualname__ = "counting.<locals>.experiment"  # the name the test recorded under
experiment = stet.once(store="pieces.csv", verbose=False)(experiment)
for value in eval(os.environ["VALUES"]):
    experiment(value)
print("ran", ran)
"""


def test_generator_functions_are_refused() -> None:
    def frames(n: int) -> Any:
        yield from range(n)

    async def stream(n: int) -> Any:
        yield n

    for generator in (frames, stream):
        with pytest.raises(TypeError, match="generator function"):
            stet.once(generator)
    assert not os.path.exists("_stet_store.csv")


def test_temporary_files_of_a_killed_rewrite_are_removed() -> None:
    """A writer killed just before its rename leaves a temporary file; the next rewrite
    (under the lock, so no other rewrite is running) removes it."""
    experiment, _ = counting()
    experiment(1)
    leftover = Path("._stet_store.csv.4242.0.tmp")
    leftover.write_text("alpha,beta,_stet_timestamp\n")
    unrelated = Path(".other.csv.4242.0.tmp")
    unrelated.write_text("")
    stet.reset(confirm=False)
    assert not leftover.exists()
    assert unrelated.exists()


def test_two_lines_that_miscount_in_opposite_ways_are_still_found() -> None:
    """Line and comma counts add up, yet two lines are wrong: the store is refused."""
    stamp = "2026-03-12T11:48:59.428485+00:00"
    text = (
        "alpha,beta,_stet_timestamp\n"
        f"1,10,{stamp}\n"
        f"2,10,7,{stamp}\n"  # a cell too many
        f"3,{stamp}\n"  # a cell too few
        f"4,10,{stamp}\n"
    )
    Path("_stet_store.csv").write_text(text)
    experiment, calls = counting()
    with pytest.raises(stet.DamagedStoreError, match="line 3 has 4 cells"):
        experiment(1)
    assert Path("_stet_store.csv").read_text() == text
    assert calls == []


def test_hand_written_timestamps_and_blank_lines_are_read() -> None:
    Path("_stet_store.csv").write_text(
        "alpha,beta,_stet_timestamp\n1,10,2026-03-12\n\n2,10,yesterday\n"
    )
    Path("_stet_store.csv.owner").write_text('{"function": "counting.<locals>.experiment"}')
    experiment, calls = counting()
    experiment(1)
    experiment(2)
    experiment(3)
    assert calls == [(3, 10)]


def test_a_function_without_parameters_shares_a_store_with_another(tmp_path: Path) -> None:
    """Found with outputs: the store's index of a function with no key parameters was
    built with no key column at all, and the second function's first call failed."""
    script = tmp_path / "s.py"
    script.write_text(
        "import stet\n"
        "@stet.once(store='runs.csv')\n"
        "def prepare(): print('prepare')\n"
        "@stet.once(store='runs.csv')\n"
        "def other(k): print('other', k)\n"
        "prepare(); other(1); prepare(); other(1)\n"
    )
    skips = "[stet] Skipping prepare()\n[stet] Skipping other(k=1)\n"
    for expected in ("prepare\nother 1\n" + skips, skips + skips):
        done = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == expected
