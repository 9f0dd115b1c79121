"""Drive stet only as users reach it: a script file in a fresh interpreter, the console
script, a real Jupyter kernel, the plain REPL on a pseudo-terminal, and a user whom file
permissions apply to.

The tests in ``tests/as_a_user/`` use these and nothing of stet's internals. (They
import this module as ``outside``: ``tests/conftest.py`` puts ``tests/`` on the path.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

BIN = Path(sys.executable).parent
TIMEOUT = 180

# As root, permissions do not apply; without these two capabilities they do.
UNPRIVILEGED = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
    "--",
]


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("COLUMNS", None)
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **(extra or {})}


def run(
    command: list[str],
    cwd: Path,
    *,
    unprivileged: bool = False,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd``; standard input is ``stdin`` (none: /dev/null)."""
    return subprocess.run(
        [*UNPRIVILEGED, *command] if unprivileged else command,
        cwd=cwd,
        env=_environment(env),
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_script(
    code: str, cwd: Path, *args: str, name: str = "script.py", **options: object
) -> subprocess.CompletedProcess[str]:
    """Write ``code`` (dedented) to ``cwd/name`` and run it with ``python name``."""
    (cwd / name).write_text(textwrap.dedent(code))
    return run([sys.executable, name, *args], cwd, **options)  # type: ignore[arg-type]


def run_cli(args: list[str], cwd: Path, **options: object) -> subprocess.CompletedProcess[str]:
    """Run the ``stet`` console script that ``pip install`` put beside this Python."""
    return run([str(BIN / "stet"), *args], cwd, **options)  # type: ignore[arg-type]


def stet_lines(text: str) -> list[str]:
    """The ``[stet] ...`` lines of some output, in order."""
    return [line for line in text.splitlines() if line.startswith("[stet]")]


def run_notebook(cells: list[str], cwd: Path, timeout: float = TIMEOUT) -> list[str]:
    """Run ``cells`` in a real Jupyter kernel; each cell's text output (stdout, stderr,
    results, tracebacks) as one string."""
    import nbclient
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    texts = []
    for cell in notebook.cells:
        parts = []
        for output in cell.outputs:
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                parts.append(output.data.get("text/plain", "") + "\n")
            elif output.output_type == "error":
                parts.append(f"{output.ename}: {output.evalue}\n")
        texts.append("".join(parts))
    return texts


class Repl:
    """The plain ``python`` REPL on a pseudo-terminal (pexpect), as a user types into it."""

    PROMPT = ">>> "

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        import pexpect

        self.child = pexpect.spawn(
            sys.executable,
            ["-q", "-i"],
            cwd=str(cwd),
            env={**_environment(env), "PYTHONSTARTUP": "", "TERM": "dumb"},
            encoding="utf-8",
            timeout=60,
            dimensions=(50, 200),
            use_poll=True,  # a long test session has descriptors past select()'s 1023
        )
        self.child.expect_exact(self.PROMPT)

    def type(self, line: str) -> str:
        """Type one line and Enter; what was printed up to the next prompt (without the
        echo of the line)."""
        self.child.sendline(line)
        self.child.expect_exact([self.PROMPT, "... "])
        printed = (self.child.before or "").replace("\r\n", "\n")
        return printed.split("\n", 1)[1] if "\n" in printed else ""

    def close(self) -> None:
        self.child.sendline("exit()")
        self.child.expect(__import__("pexpect").EOF)
        self.child.close()
