"""Clear, consistent messages, as users meet them: scripts, notebooks, the REPL."""

from __future__ import annotations

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
