"""Clear, consistent messages, as users meet them: scripts, notebooks, the REPL."""

from __future__ import annotations

from pathlib import Path

import outside


def test_status_of_a_missing_store_in_a_notebook_is_one_line(tmp_path: Path) -> None:
    texts = outside.run_notebook(["import stet", "stet.status()"], tmp_path)
    assert texts[1] == "[stet] No store at _stet_store.csv: nothing recorded yet\n"
    assert list(tmp_path.iterdir()) == []
