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
