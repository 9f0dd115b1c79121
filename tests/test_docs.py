"""Every ```python block in README.md and docs/ runs, and the documentation site builds.

Each page's blocks run in order in one fresh Python process whose working directory is
a new temporary directory, so the stores a page makes never meet another page's. A
```text block that directly follows a ```python block is that block's output: it must
equal what the block printed, except that ISO 8601 timestamps may differ.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")], key=lambda p: p.relative_to(ROOT)
)
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")

# The set-up commands CI runs, word for word.
QUICKSTART_COMMAND = 'python -m pip install ".[examples]" && python examples/quickstart.py'
TEST_COMMAND = 'python -m pip install -e ".[test]" && python -m pytest'


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    code: str
    output: str | None = None  # the ```text block right after it, if any


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
        body = "\n".join(line[indent:] for line in lines[i + 1 : end])
        block = Block(opening["lang"].lower(), i + 1, body + "\n")
        follows = bool(blocks) and not any(line.strip() for line in lines[previous_end:i])
        if block.lang == "text" and follows and blocks[-1].lang == "python":
            blocks[-1].output = block.code
        blocks.append(block)
        previous_end = end + 1
        i = end + 1
    return blocks


def python_blocks(page: Path) -> list[Block]:
    return [block for block in blocks_of(page) if block.lang == "python"]


DRIVER = r"""
import contextlib, io, json, sys, traceback

blocks = json.load(open(sys.argv[1], encoding="utf-8"))
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
for number, block in enumerate(blocks, start=1):
    tee = Tee(sys.stdout)
    try:
        with contextlib.redirect_stdout(tee):
            exec(compile(block["code"], f"<block {number}>", "exec"), namespace)
    except BaseException:
        print(f"--- block {number} (line {block['line']}) failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    finally:
        outputs.append(tee.seen.getvalue())
        json.dump(outputs, open(sys.argv[2], "w", encoding="utf-8"))
"""


def normalized(text: str) -> list[str]:
    return [TIMESTAMP.sub("<timestamp>", line).rstrip() for line in text.strip("\n").split("\n")]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    blocks = python_blocks(page)
    if not blocks:
        return
    name = page.relative_to(ROOT)
    source = tmp_path / "blocks.json"
    source.write_text(json.dumps([{"line": b.line, "code": b.code} for b in blocks]))
    outputs_file = tmp_path / "outputs.json"
    (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(source), str(outputs_file)],
        cwd=work,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outputs = json.loads(outputs_file.read_text()) if outputs_file.exists() else []
    if result.returncode != 0:
        failed = blocks[len(outputs) - 1] if outputs else blocks[0]
        pytest.fail(
            f"{name}: the python block at line {failed.line} failed:\n{failed.code}\n"
            f"{result.stderr}",
            pytrace=False,
        )
    for block, output in zip(blocks, outputs, strict=True):
        if block.output is not None and normalized(output) != normalized(block.output):
            pytest.fail(
                f"{name}: the output shown after the python block at line {block.line} is "
                f"not what it prints (timestamps aside).\nShown:\n{block.output}\n"
                f"Printed:\n{output}",
                pytrace=False,
            )


def test_blocks_are_found() -> None:
    """The page list and the block parser see what a reader sees."""
    names = {str(p.relative_to(ROOT)) for p in PAGES}
    assert {"README.md", "docs/index.md", "docs/tutorial/getting-started.md"} <= names
    tutorial = blocks_of(ROOT / "docs" / "tutorial" / "getting-started.md")
    assert any(b.lang == "python" and b.output for b in tutorial)


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
