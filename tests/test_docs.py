"""Every ```python block in README.md and docs/ runs, and the documentation site builds.

Each page's blocks run in order in one fresh Python process whose working directory is
a new temporary directory, so the stores a page makes never meet another page's. A
```text block that directly follows a ```python block is that block's output: it must
equal what the block printed, except that ISO 8601 timestamps may differ.

Two more kinds of block let a page show a real script, which worker processes need
(a pool cannot pickle a function defined in an ``exec``'d block):

* A ```python block whose first line is ``# file: NAME`` is written to ``NAME`` in the
  page's working directory instead of being run.
* In a ```console or ```sh block, each line that starts with ``$ `` is a command, run
  by ``bash`` there at that point of the page (``python`` is this interpreter). It must
  exit with status 0. The lines after it, up to the next ``$ `` line, are its output
  (standard output and error) when there are any: they must equal what it printed, in
  any order, since the processes of a sweep print at once.

In every output, process ids and host names in stet's lines (``(node7, pid 4121)``,
``node7 (pids 4121, 4122)``) may differ too, and so may the durations of sweeps: the
wall time that ends a ``[stet] Sweep of ...`` line (``in 0.4 s``, ``in 1m12s``) and an
ETA (``ETA 3.2 s``, ``ETA 1h12m``), and the times in the names of directories set aside
(``data/.stet-reset/20260312T114859.428485123Z/``).

A page whose code or commands use the example store
``postgresql://alice:secret@db.example.org:5432/sweeps`` (with or without ``:secret``,
with or without a query) runs against the test server (the ``postgres_url`` fixture):
the example URL is replaced by the server's before the page runs, and back again in what
the page printed, as the full URL and as stet shows it (without the password).
``PGPASSWORD`` holds the server's password, for the examples that leave it out. Each
page run works in a PostgreSQL schema of its own, made before and dropped after, so its
tables never meet another run's.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")], key=lambda p: p.relative_to(ROOT)
)
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00")
WORKER = re.compile(r"\([^\s,()]+, pid \d+\)")  # running in another worker (node7, pid 4121)
WORKERS = re.compile(r"[^\s,()]+ \((pids?) \d+(, \d+)*( and \d+ more)?\)")  # node7 (pid 77)
# A duration as stet shows it (stet._sweep.duration): 0.4 s, 12 s, 4m30s, 1h12m, 3d4h
DURATION = r"(\d+\.\d|\d+) s|\d+m\d{2}s|\d+h\d{2}m|\d+d\d+h"
SWEEP_TIME = re.compile(rf"^(?P<line>\[stet\] Sweep of .*, in )(?:{DURATION})$")  # its wall time
ETA = re.compile(rf"\bETA (?:{DURATION})(?=,|$)")  # status(grid=...): ETA 1h12m
ASIDE_TIME = re.compile(r"(?<=/\.stet-)(\w+)/\d{8}T\d{6}\.\d{9}Z")  # .stet-reset/<time>
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
FILE_LINE = re.compile(r"# file: (?P<name>[\w.-]+(/[\w.-]+)*)\s*")
SHELLS = ("console", "sh")
PROMPT = "$ "

# The set-up commands CI runs, word for word.
QUICKSTART_COMMAND = 'python -m pip install ".[examples]" && python examples/quickstart.py'
TEST_COMMAND = 'python -m pip install -e ".[test]" && python -m pytest'

# The PostgreSQL store the pages show, and the password-free form stet prints.
EXAMPLE_URL = "postgresql://alice:secret@db.example.org:5432/sweeps"
EXAMPLE_SHOWN = "postgresql://alice@db.example.org:5432/sweeps"
EXAMPLE_IN_CODE = re.compile(
    r"postgresql://alice(?P<password>:secret)?@db\.example\.org:5432/sweeps"
    r"(\?(?P<query>[^\s\"'`]*))?"
)


@dataclass
class Command:
    line: int  # 1-based line of the command in the page
    text: str  # without its "$ "
    output: str | None  # the lines shown after it, if any


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    code: str
    output: str | None = None  # the ```text block right after it, if any
    commands: list[Command] = field(default_factory=list)  # of a console block

    @property
    def file(self) -> str | None:
        """The file a python block is written to (its first line ``# file: NAME``)."""
        first = FILE_LINE.fullmatch(self.code.split("\n", 1)[0])
        return first["name"] if first and self.lang == "python" else None


def blocks_of(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, each python block with its output."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    previous_end = 0  # index of the line after the previous block's closing fence
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        closing = re.compile(rf"^ {{0,{indent + 3}}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [line[indent:] for line in lines[i + 1 : end]]
        block = Block(opening["lang"].lower(), i + 1, "\n".join(body) + "\n")
        if block.lang in SHELLS:
            block.commands = commands_of(body, i + 2)
        follows = bool(blocks) and not any(line.strip() for line in lines[previous_end:i])
        if block.lang == "text" and follows and blocks[-1].lang == "python":
            blocks[-1].output = block.code
        blocks.append(block)
        previous_end = end + 1
        i = end + 1
    return blocks


def commands_of(body: list[str], first_line: int) -> list[Command]:
    """The ``$ `` commands of a console block, each with the lines shown after it."""
    commands: list[Command] = []
    shown: list[str] = []
    for number, line in enumerate(body, start=first_line):
        if line.startswith(PROMPT):
            if commands:
                commands[-1].output = "\n".join(shown) if shown else None
            commands.append(Command(number, line[len(PROMPT) :], None))
            shown = []
        elif commands:
            shown.append(line)
    if commands:
        commands[-1].output = "\n".join(shown) if shown else None
    return commands


@dataclass
class Step:
    """One thing the driver does, in page order: run code, write a file, run a command."""

    kind: str  # "exec", "file" or "shell"
    line: int
    text: str  # the code, the file's contents, or the command
    name: str = ""  # the file's name
    output: str | None = None  # what it must print


def steps_of(page: Path) -> list[Step]:
    steps = []
    for block in blocks_of(page):
        if block.lang == "python" and block.file is not None:
            steps.append(Step("file", block.line, block.code, name=block.file))
        elif block.lang == "python":
            steps.append(Step("exec", block.line, block.code, output=block.output))
        for command in block.commands:
            steps.append(Step("shell", command.line, command.text, output=command.output))
    return steps


DRIVER = r"""
import contextlib, io, json, os, subprocess, sys, traceback

steps = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}


class Tee(io.TextIOBase):
    def __init__(self, real):
        self.real, self.seen = real, io.StringIO()

    def write(self, text):
        self.seen.write(text)
        return self.real.write(text)

    def flush(self):
        self.real.flush()


outputs = []
for step in steps:
    tee, printed = Tee(sys.stdout), None
    try:
        if step["kind"] == "file":
            os.makedirs(os.path.dirname(step["name"]) or ".", exist_ok=True)
            with open(step["name"], "w", encoding="utf-8") as handle:
                handle.write(step["text"])
        elif step["kind"] == "shell":
            done = subprocess.run(
                ["bash", "-c", step["text"]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=150,
            )
            printed = done.stdout
            if done.returncode != 0:
                raise RuntimeError(f"exit status {done.returncode}; it printed:\n{printed}")
        else:
            with contextlib.redirect_stdout(tee):
                exec(compile(step["text"], f"<block at line {step['line']}>", "exec"), namespace)
    except BaseException:
        print(f"--- the step at line {step['line']} failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    finally:
        outputs.append(tee.seen.getvalue() if printed is None else printed)
        json.dump(outputs, open(sys.argv[2], "w", encoding="utf-8"))
"""


def normalized(text: str, any_order: bool = False) -> list[str]:
    lines = []
    for line in text.strip("\n").split("\n"):
        line = TIMESTAMP.sub("<timestamp>", line.rstrip())
        line = WORKER.sub("(<host>, pid <pid>)", line)
        line = WORKERS.sub(r"<host> (\1 <pids>)", line)
        line = SWEEP_TIME.sub(r"\g<line><duration>", line)
        line = ETA.sub("ETA <duration>", line)
        line = ASIDE_TIME.sub(r"\1/<time>", line)
        lines.append(line)
    return sorted(lines) if any_order else lines


class PostgresPage:
    """A page's example URL swapped for the test server's, in a schema of the page's own."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.base = parts._replace(query="").geturl()
        host = parts.netloc.rpartition("@")[2]
        self.shown = parts._replace(netloc=f"{parts.username}@{host}", query="").geturl()
        self.password = unquote(parts.password or "")
        self.schema = f"docs_{secrets.token_hex(6)}"
        # The server URL's own query and the schema go after the page's own query.
        self.extra = "&".join(
            q for q in (parts.query, f"options=-csearch_path%3D{self.schema}") if q
        )

    def to_server(self, text: str) -> str:
        def swap(match: re.Match[str]) -> str:
            base = self.base if match["password"] else self.shown
            query = f"{match['query']}&{self.extra}" if match["query"] else self.extra
            return f"{base}?{query}"

        return EXAMPLE_IN_CODE.sub(swap, text)

    def to_example(self, text: str) -> str:
        for extra in (f"&{self.extra}", f"?{self.extra}"):
            text = text.replace(extra, "")
        return text.replace(self.base, EXAMPLE_URL).replace(self.shown, EXAMPLE_SHOWN)

    def sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(statement)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_python_blocks_run(page: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    steps = steps_of(page)
    if not steps:
        return
    name = page.relative_to(ROOT)
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    }
    # Buffered output, as scripts have by default: print() then writes a line and its
    # newline at once, so the lines of processes printing at once stay whole.
    env.pop("PYTHONUNBUFFERED", None)
    postgres = None
    if any(EXAMPLE_IN_CODE.search(step.text) for step in steps):
        postgres = PostgresPage(request.getfixturevalue("postgres_url"))
        env["PGPASSWORD"] = postgres.password  # for the examples that leave it out
        for step in steps:
            step.text = postgres.to_server(step.text)
        postgres.sql(f"CREATE SCHEMA {postgres.schema}")
        request.addfinalizer(lambda: postgres.sql(f"DROP SCHEMA {postgres.schema} CASCADE"))
    source = tmp_path / "steps.json"
    source.write_text(json.dumps([vars(step) for step in steps]))
    outputs_file = tmp_path / "outputs.json"
    (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(source), str(outputs_file)],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outputs = json.loads(outputs_file.read_text()) if outputs_file.exists() else []
    if postgres is not None:
        outputs = [postgres.to_example(output) for output in outputs]
    if result.returncode != 0:
        failed = steps[len(outputs) - 1] if outputs else steps[0]
        report = f"{failed.text}\n{result.stderr}"
        pytest.fail(
            f"{name}: the {failed.kind} step at line {failed.line} failed:\n"
            f"{postgres.to_example(report) if postgres else report}",
            pytrace=False,
        )
    for step, output in zip(steps, outputs, strict=True):
        shown, any_order = step.output, step.kind == "shell"
        if shown is not None and normalized(output, any_order) != normalized(shown, any_order):
            pytest.fail(
                f"{name}: the output shown after the {step.kind} step at line {step.line} is "
                f"not what it prints (timestamps, hosts, pids and durations aside"
                f"{', in any order' if any_order else ''}).\nShown:\n{shown}\n"
                f"Printed:\n{output}",
                pytrace=False,
            )


def test_blocks_are_found() -> None:
    """The page list and the block parser see what a reader sees."""
    names = {str(p.relative_to(ROOT)) for p in PAGES}
    assert {"README.md", "docs/index.md", "docs/tutorial/getting-started.md"} <= names
    tutorial = blocks_of(ROOT / "docs" / "tutorial" / "getting-started.md")
    assert any(b.lang == "python" and b.output for b in tutorial)


def test_scripts_and_commands_are_found() -> None:
    """The pages that run scripts write them as files and run them with shown output."""
    steps = steps_of(ROOT / "docs" / "how-to" / "multiprocessing.md")
    assert "sweep.py" in {s.name for s in steps if s.kind == "file"}
    commands = [s for s in steps if s.kind == "shell"]
    assert any(s.text == "python sweep.py" and s.output for s in commands)


def test_readme_gives_the_two_setup_commands() -> None:
    """README.md's set-up commands, each alone in its own code block, word for word."""
    shell = [b.code.strip() for b in blocks_of(ROOT / "README.md") if b.lang in ("sh", "bash")]
    assert shell == [QUICKSTART_COMMAND, TEST_COMMAND]


def test_readme_links_resolve() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", text)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "reference" / "api" / "index.html").exists()
