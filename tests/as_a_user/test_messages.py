"""Clear, consistent messages, as users meet them: scripts, notebooks, the REPL."""

from __future__ import annotations

import re
from pathlib import Path

import outside


def test_status_of_a_missing_store_in_a_notebook_is_one_line(tmp_path: Path) -> None:
    texts = outside.run_notebook(["import stet", "stet.status()"], tmp_path)
    assert texts[1] == "[stet] No store at _stet_store.csv: nothing recorded yet\n"
    assert list(tmp_path.iterdir()) == []


def test_a_store_in_the_home_directory_and_one_ending_in_a_slash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    script = """
    import stet

    @stet.once(store="~/runs.csv")
    def f(n):
        print("ran", n)

    f(1)
    f(1)
    stet.status("~/runs.csv")
    stet.once(store="results/")
    """
    done = outside.run_script(script, tmp_path, env={"HOME": str(home)})
    assert done.stdout.splitlines()[:3] == [
        "ran 1",
        "[stet] Skipping f(n=1)",
        "[stet] Store: ~/runs.csv",
    ]
    assert (home / "runs.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "script.py"]
    assert done.stderr.splitlines()[-1] == (
        "ValueError: @stet.once: the store path 'results/' ends in '/', so it names a "
        "directory, not a store file; give the store's file name, such as 'results/runs.csv'"
    )


def test_a_hand_edited_timestamp_is_the_same_error_in_a_notebook_and_on_the_command_line(
    tmp_path: Path,
) -> None:
    setup = """
    import stet

    @stet.once(verbose=False)
    def f(n):
        pass

    for n in (1, 2, 3):
        f(n)
    lines = open("_stet_store.csv").read().splitlines()
    lines[2] = "2,12/03/2026 11:49"
    open("_stet_store.csv", "w").write("\\n".join(lines) + "\\n")
    """
    texts = outside.run_notebook(
        [setup, "stet.load()", "stet.records()", "stet.status()"], tmp_path
    )
    message = (
        "_stet_store.csv is damaged: line 3 has the _stet_timestamp '12/03/2026 11:49', "
        "which is not an ISO 8601 time (stet writes 2026-03-12T11:48:59.428485+00:00). "
        "Repair or delete that line; stet changed nothing."
    )
    assert texts[1:] == [f"DamagedStoreError: {message}\n"] * 3
    for command in (["status"], ["status", "--json"], ["show"]):
        done = outside.run_cli(command, tmp_path)
        assert (done.returncode, done.stdout) == (1, ""), command
        assert done.stderr == f"stet: error: {message}\n", command


def last_bar_count(stderr: str, total: int) -> int:
    """Where a tqdm bar over ``total`` runs stood when it closed: ``8/10 [`` gives 8."""
    return [int(n) for n in re.findall(rf"(\d+)/{total} \[", stderr)][-1]


def test_the_bar_and_the_closing_line_agree_when_runs_fail(tmp_path: Path) -> None:
    script = """
    import stet

    @stet.once(verbose=False)
    def f(n):
        if n in (3, 7):
            raise ValueError(f"bad {n}")

    stet.sweep(f, {"n": range(10)}, progress="always")
    """
    done = outside.run_script(script, tmp_path)
    assert done.returncode == 0, done.stderr
    closing = outside.stet_lines(done.stdout)[-1]
    assert closing.startswith("[stet] Sweep of f: 8/10 done (0 before); 8 ran, 2 failed, in ")
    assert last_bar_count(done.stderr, 10) == 8, done.stderr
    assert "2 failed" in done.stderr.rsplit("\r", 1)[-1]


def test_a_sweep_whose_every_run_completed_is_not_interrupted(tmp_path: Path) -> None:
    """Ctrl-C while the last run runs in a pool: the sweep waits for it, and then no run
    is left, so the sweep is complete (the program still stops)."""
    script = """
    import os, signal, sys, threading
    from concurrent.futures import ThreadPoolExecutor
    import stet

    waiting = threading.Event()  # set once the sweep says it waits for the started run

    class Output:
        def __init__(self, stream):
            self.stream = stream
        def write(self, text):
            if "Interrupted: waiting for " in text:
                waiting.set()
            return self.stream.write(text)
        def __getattr__(self, name):
            return getattr(self.stream, name)

    sys.stdout = Output(sys.stdout)

    @stet.once(verbose=False)
    def f(n):
        if n == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C
            assert waiting.wait(60)

    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    with ThreadPoolExecutor(2) as pool:
        stet.sweep(f, {"n": range(4)}, executor=pool, progress=False)
    """
    done = outside.run_script(script, tmp_path)
    lines = outside.stet_lines(done.stdout)
    assert lines[1].startswith("[stet] Interrupted: waiting for "), lines
    assert lines[2].startswith("[stet] Sweep of f: 4/4 done (0 before); 4 ran, in "), lines
    assert len(lines) == 3, lines  # not "Interrupted: rerun the sweep to continue"
    assert done.stderr.rstrip().endswith("KeyboardInterrupt")  # the program still stops


def test_status_with_a_grid_gives_no_eta_when_only_failed_runs_are_left(tmp_path: Path) -> None:
    script = """
    import stet

    @stet.once(verbose=False, failures="record")
    def f(n):
        if n >= 3:
            raise ValueError(n)

    grid = {"n": range(5)}
    stet.sweep(f, grid, progress=False)
    f.status(grid=grid)
    stet.status(grid=grid)
    """
    done = outside.run_script(script, tmp_path)
    lines = [line for line in done.stdout.splitlines() if re.match(r"\[stet\] \d+/5 done", line)]
    assert lines == ["[stet] 3/5 done (60.0%), 0 running, 2 failed last time"] * 2, done.stdout


def test_a_sweep_in_a_notebook_without_ipywidgets_shows_a_text_bar(tmp_path: Path) -> None:
    missing = outside.run([str(outside.BIN / "pip"), "show", "ipywidgets"], tmp_path)
    assert missing.returncode != 0, "this test needs a kernel without ipywidgets"
    cells = [
        "import stet\n@stet.once(verbose=False)\ndef f(n):\n    pass",
        "summary = stet.sweep(f, {'n': range(5)})",
    ]
    text = outside.run_notebook(cells, tmp_path)[1]
    assert "TqdmWarning" not in text and "IProgress" not in text, text
    assert "5/5 [" in text, text
    assert text.splitlines()[-1].startswith("[stet] Sweep of f: 5/5 done (0 before); 5 ran"), text


STREAK = """
import stet

@stet.once(skip_lines=2)
def f(n):
    pass
"""
CONDENSED = "[stet] Skipped 3 more completed runs of f"


def test_a_skip_streak_is_condensed_before_the_next_statements_output_in_a_script(
    tmp_path: Path,
) -> None:
    script = STREAK + "for n in range(5):\n    f(n)\n" * 2 + "print('after')\n"
    done = outside.run_script(script, tmp_path)
    assert done.stdout.splitlines() == [
        "[stet] Skipping f(n=0)",
        "[stet] Skipping f(n=1)",
        CONDENSED,
        "after",
    ], done.stdout


def test_a_skip_streak_is_condensed_before_the_next_statements_output_in_a_notebook(
    tmp_path: Path,
) -> None:
    loop = "for n in range(5):\n    f(n)\n"
    texts = outside.run_notebook([STREAK, loop, loop + "print('after')"], tmp_path)
    assert texts[2].splitlines()[2:] == [CONDENSED, "after"], texts[2]


def test_a_skip_streak_ends_at_the_next_prompt_of_the_plain_repl(tmp_path: Path) -> None:
    repl = outside.Repl(tmp_path)
    try:
        repl.type("import stet")
        repl.type("@stet.once(skip_lines=2)")
        repl.type("def f(n): pass")
        repl.type("")
        repl.type("for n in range(5): f(n)")
        assert repl.type("") == ""  # every run ran
        repl.type("for n in range(5): f(n)")
        assert repl.type("").splitlines() == [
            "[stet] Skipping f(n=0)",
            "[stet] Skipping f(n=1)",
            CONDENSED,
        ]
        assert repl.type("print('after')") == "after\n"
        assert repl.type("f(0)") == "[stet] Skipping f(n=0)\n"
        assert repl.type("6 * 7") == "42\n"
    finally:
        repl.close()


def test_load_and_records_read_old_runs_with_a_new_parameters_default(tmp_path: Path) -> None:
    before = """
    import stet

    @stet.once
    def run(alpha):
        pass

    for alpha in (0.1, 0.2):
        run(alpha)
    """
    after = """
    import stet

    @stet.once
    def run(alpha, beta=5):
        print("ran", alpha, beta)

    print(stet.load()[["alpha", "beta"]].to_dict("records"))
    print([(r["alpha"], r["beta"]) for r in stet.records()])
    run(0.1)
    run(0.1, beta=6)
    print(stet.load()["beta"].tolist())
    """
    assert outside.run_script(before, tmp_path).returncode == 0
    done = outside.run_script(after, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "earlier record" not in line]
    assert lines == [
        "[{'alpha': 0.1, 'beta': 5}, {'alpha': 0.2, 'beta': 5}]",
        "[(0.1, 5), (0.2, 5)]",
        "[stet] run's code has changed since its 2 runs were recorded; they still count as "
        "done (run.reset() runs them again)",
        "[stet] Skipping run(alpha=0.1, beta=5)",
        "ran 0.1 6",
        "[5, 5, 6]",
    ], done.stdout


def test_a_loop_that_skips_and_prints_stays_condensed(tmp_path: Path) -> None:
    script = (
        STREAK + "for n in range(5):\n    f(n)\n" + "for n in range(5):\n    f(n)\n    print(n)\n"
    )
    done = outside.run_script(script, tmp_path)
    assert done.stdout.splitlines() == [
        "[stet] Skipping f(n=0)",
        "0",
        "[stet] Skipping f(n=1)",
        "1",
        "[stet] Skipped 1 more completed run of f",
        "2",
        "3",
        "4",
        "[stet] Skipped 2 more completed runs of f",
    ], done.stdout
