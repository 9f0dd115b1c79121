"""Clear, consistent messages (issue 13, promise 8): what stet says agrees with itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

import stet


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def stet_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[stet]")]


# -- status of a store that does not exist


def test_status_of_a_missing_store_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    stet.status("nowhere.csv")
    assert capsys.readouterr().out == "[stet] No store at nowhere.csv: nothing recorded yet\n"
    assert not Path("nowhere.csv").exists()


def test_a_functions_status_before_its_first_run_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @stet.once(store="later.csv")
    def f(n: int) -> None:
        pass

    f.status()
    f.status(grid={"n": [1, 2]})
    assert (
        capsys.readouterr().out.splitlines()
        == ["[stet] No store at later.csv: nothing recorded yet"] * 2
    )


# -- store paths: ~ and a trailing /


def test_a_tilde_in_a_store_path_is_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))

    @stet.once(store="~/runs.csv")
    def f(n: int) -> None:
        pass

    f(1)
    assert (home / "runs.csv").is_file()
    assert not (tmp_path / "~").exists()
    assert [r["n"] for r in stet.records("~/runs.csv")] == [1]
    capsys.readouterr()
    stet.status("~/runs.csv")
    assert "[stet] 1 completed experiment recorded" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("given", "meant"), [("results/", "results/runs.csv"), ("runs.parquet/", "runs.parquet")]
)
def test_a_store_path_ending_in_a_slash_is_refused(given: str, meant: str) -> None:
    message = f"store path '{given}' ends in '/'.*such as '{meant}'"
    with pytest.raises(ValueError, match="^@stet.once: the " + message):
        stet.once(store=given)(lambda n: None)
    for read in (stet.status, stet.records, stet.reset):
        with pytest.raises(ValueError, match=message):
            read(given)
    assert list(Path().iterdir()) == []


# -- a hand-edited timestamp, "1 cell", errors that name stet.load


def three_runs(store: str) -> None:
    @stet.once(store=store, verbose=False)
    def f(n: int) -> None:
        pass

    for n in (1, 2, 3):
        f(n)


def edit_line(path: str, number: int, change: Callable[[str], str]) -> None:
    lines = Path(path).read_text().splitlines(keepends=True)
    lines[number - 1] = change(lines[number - 1])
    Path(path).write_text("".join(lines))


def test_a_timestamp_that_is_not_iso_8601_is_damage_on_line_3_everywhere() -> None:
    from stet._admin import status_data  # stet status --json

    three_runs("runs.csv")
    edit_line("runs.csv", 3, lambda line: line.split(",")[0] + ",yesterday at noon\n")
    before = Path("runs.csv").read_bytes()
    message = (
        r"^runs\.csv is damaged: line 3 has the _stet_timestamp 'yesterday at noon', which "
        r"is not an ISO 8601 time .*Repair or delete that line; stet changed nothing\.$"
    )
    reads: list[Callable[[], object]] = [
        lambda: stet.status("runs.csv"),
        lambda: status_data("runs.csv"),
        lambda: stet.records("runs.csv"),
        lambda: stet.records("runs.csv", {"n": 1}),
        lambda: stet.load("runs.csv"),
    ]
    for read in reads:
        with pytest.raises(stet.DamagedStoreError, match=message):
            read()
    assert Path("runs.csv").read_bytes() == before


def test_a_timestamp_in_another_iso_8601_form_reads_alike() -> None:
    three_runs("runs.csv")
    edit_line("runs.csv", 2, lambda line: line.split(",")[0] + ",2026-03-12T11:48:59Z\n")
    first = stet.records("runs.csv")[0]["_stet_timestamp"]
    assert first == datetime(2026, 3, 12, 11, 48, 59, tzinfo=UTC)
    assert stet.load("runs.csv")["_stet_timestamp"][0] == first
    stet.status("runs.csv")


def test_a_line_with_one_cell_says_1_cell() -> None:
    three_runs("runs.csv")
    edit_line("runs.csv", 4, lambda line: "4\n")
    with pytest.raises(stet.DamagedStoreError, match="line 4 has 1 cell where the header has 2"):
        stet.records("runs.csv")


def test_plural() -> None:
    from stet._report import plural

    assert plural(1, "cell") == "1 cell"
    assert plural(0, "cell") == "0 cells"
    assert plural(1200, "run") == "1,200 runs"
    assert plural(2, "batch", "batches") == "2 batches"


def test_errors_raised_through_load_name_load() -> None:
    three_runs("runs.csv")
    with pytest.raises(ValueError, match=r"^stet\.load: runs\.csv has no column 'beta'"):
        stet.load("runs.csv", {"beta": 1})
    with pytest.raises(ValueError, match=r"^stet\.records: runs\.csv has no column 'beta'"):
        stet.records("runs.csv", {"beta": 1})


# -- a skip streak ends before the next output


def test_a_counted_streak_ends_before_the_next_print_and_the_streams_are_put_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    @stet.once(store="steps.csv", skip_lines=1)
    def step(i: int) -> None:
        pass

    for i in range(3):
        step(i)
    out, err = sys.stdout, sys.stderr
    write = sys.stdout.write
    for i in range(3):
        step(i)
    print("after")
    print("on stderr", file=sys.stderr)
    assert (sys.stdout, sys.stderr, sys.stdout.write) == (out, err, write)
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "[stet] Skipping step(i=0)",
        "[stet] Skipped 2 more completed runs of step",
        "after",
    ]
    assert captured.err == "on stderr\n"


def test_a_streak_ended_by_standard_error_prints_its_line_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    @stet.once(store="steps.csv", skip_lines=0)
    def step(i: int) -> None:
        pass

    step(1)
    step(1)
    sys.stderr.write("a warning\n")
    step(1)
    assert capsys.readouterr().out.splitlines() == ["[stet] Skipped 1 completed run of step"]
    stet.status("steps.csv")  # ends the streak, which went on quietly
    assert capsys.readouterr().out.splitlines()[0] == "[stet] Skipped 1 more completed run of step"


# -- load and records read records as the skip logic does


def test_records_and_load_fill_in_the_default_of_a_parameter_added_later(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def first(alpha: float) -> None:
        pass

    first.__qualname__ = "run"
    stet.once(store="runs.csv")(first)(1.0)
    stet.once(store="runs.csv")(first)(2.0)
    assert "beta" not in stet.records("runs.csv")[0]

    def run(alpha: float, beta: float = 0.5) -> None:
        pass

    run.__qualname__ = "run"
    later = stet.once(store="runs.csv")(run)
    # before any call of the new definition: as its skip logic will read them
    assert [(r["alpha"], r["beta"]) for r in stet.records("runs.csv")] == [(1.0, 0.5), (2.0, 0.5)]
    capsys.readouterr()
    later(1.0)  # skipped: the default is what the record stands for
    assert "[stet] Skipping run(alpha=1.0, beta=0.5)" in capsys.readouterr().out
    later(1.0, beta=0.7)
    assert [(r["alpha"], r["beta"]) for r in stet.records("runs.csv")] == [
        (1.0, 0.5),
        (2.0, 0.5),
        (1.0, 0.7),
    ]
    assert stet.records("runs.csv", {"beta": 0.5}) == stet.records("runs.csv")[:2]
    frame = stet.load("runs.csv")
    assert list(frame.columns) == ["alpha", "beta", "_stet_timestamp"]
    assert frame["beta"].tolist() == [0.5, 0.5, 0.7]
    assert str(frame["beta"].dtype) == "float64"
    assert len(stet.load("runs.csv", {"beta": 0.5})) == 2


def test_records_that_no_call_matches_get_no_default(capsys: pytest.CaptureFixture[str]) -> None:
    def first(alpha: float) -> None:
        pass

    first.__qualname__ = "run2"
    stet.once(store="runs.csv")(first)(1.0)

    def run2(alpha: float, gamma: int, beta: float = 0.5) -> None:
        pass

    run2.__qualname__ = "run2"

    stet.once(store="runs.csv")(run2)(1.0, 3)  # ran: the old record lacks gamma
    assert "Skipping" not in capsys.readouterr().out
    assert [sorted(r) for r in stet.records("runs.csv")] == [
        ["_stet_timestamp", "alpha"],  # not a run of run2 (gamma has no default): as it was
        ["_stet_timestamp", "alpha", "beta", "gamma"],
    ]


def test_the_hosts_left_out_of_the_running_line_agree_with_their_count() -> None:
    from stet._claims import Claim, Worker
    from stet._report import running_lines

    def _running_lines(claims: list[Claim], hosts_shown: int) -> list[str]:
        return running_lines([(c.worker.host, c.worker.pid) for c in claims], hosts_shown)

    def claims(hosts: int) -> list[Claim]:
        workers = [Worker(f"node{h}", 100 + h, "", 0, f"t{h}") for h in range(hosts)]
        return [Claim("f", bytes([h]), "f()", w, 60.0) for h, w in enumerate(workers)]

    assert _running_lines(claims(6), hosts_shown=5)[0].endswith(", and 1 more host")
    assert _running_lines(claims(7), hosts_shown=5)[0].endswith(", and 2 more hosts")


def test_another_threads_output_ends_the_streak_too(capsys: pytest.CaptureFixture[str]) -> None:
    import threading

    @stet.once(store="steps.csv", skip_lines=0)
    def step(i: int) -> None:
        pass

    for i in range(4):
        step(i)
    for i in range(4):
        step(i)
    thread = threading.Thread(target=print, args=("from a thread",))
    thread.start()
    thread.join()
    assert capsys.readouterr().out.splitlines() == [
        "[stet] Skipped 4 completed runs of step",
        "from a thread",
    ]


def test_load_of_a_missing_store_names_load() -> None:
    with pytest.raises(FileNotFoundError, match=r"stet\.load: No stet store at this path yet"):
        stet.load("none.csv")
    assert not Path("none.csv").exists()
