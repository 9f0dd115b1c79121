"""The harness itself: a script, the console script, a kernel, the REPL, a non-root user."""

from __future__ import annotations

from pathlib import Path

import outside

SCRIPT = """
import stet

@stet.once
def f(n):
    print("ran", n)

f(1)
f(1)
"""


def test_a_script_runs_then_skips_after_a_restart(tmp_path: Path) -> None:
    first = outside.run_script(SCRIPT, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "ran 1" in first.stdout
    second = outside.run_script(SCRIPT, tmp_path)
    assert "ran 1" not in second.stdout
    assert outside.stet_lines(second.stdout) == ["[stet] Skipping f(n=1)"] * 2


def test_the_console_script_reads_the_store(tmp_path: Path) -> None:
    outside.run_script(SCRIPT, tmp_path)
    shown = outside.run_cli(["status"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "1 completed experiment" in shown.stdout


def test_a_kernel_runs_cells(tmp_path: Path) -> None:
    texts = outside.run_notebook(
        ["import stet\n@stet.once\ndef f(n):\n    print('ran', n)", "f(2)", "f(2)"], tmp_path
    )
    assert texts[1] == "ran 2\n"
    assert "Skipping f(n=2)" in texts[2]


def test_the_repl_answers_at_its_prompt(tmp_path: Path) -> None:
    repl = outside.Repl(tmp_path)
    try:
        assert repl.type("print(6 * 7)") == "42\n"
    finally:
        repl.close()


def test_permissions_apply_to_the_unprivileged_child(tmp_path: Path) -> None:
    target = tmp_path / "locked.txt"
    target.write_text("x")
    target.chmod(0o444)
    attempt = outside.run(["sh", "-c", f"echo y > {target}"], tmp_path, unprivileged=True)
    assert attempt.returncode != 0
    assert target.read_text() == "x"
