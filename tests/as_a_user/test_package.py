"""The sdist and the wheel hold the project and nothing else (no stray wheel, no venv)."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {
    "src",
    "tests",
    "docs",
    "examples",
    "benchmarks",
    "scripts",
    "README.md",
    "LICENSE",
    "mkdocs.yml",
    "pyproject.toml",
    "PKG-INFO",
    ".gitignore",
}
BIGGEST = 1 << 20  # no file of the project comes near 1 MB


def build(tmp_path: Path) -> tuple[Path, Path]:
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (sdist,) = tmp_path.glob("stet-*.tar.gz")
    (wheel,) = tmp_path.glob("stet-*.whl")
    return sdist, wheel


def test_the_sdist_and_the_wheel_hold_only_the_project(tmp_path: Path) -> None:
    sdist, wheel = build(tmp_path)
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
    names = [m.name.split("/", 1)[1] for m in members]
    assert {n.split("/", 1)[0] for n in names} <= TOP_LEVEL, names
    assert "src/stet/__init__.py" in names and "LICENSE" in names
    assert not [n for n in names if n.endswith((".whl", ".pyc")) or ".venv" in n]
    assert max(m.size for m in members) < BIGGEST
    with zipfile.ZipFile(wheel) as archive:
        wheel_names = archive.namelist()
    tops = {n.split("/", 1)[0] for n in wheel_names}
    assert tops == {"stet", "stet-0.1.0.dist-info"}, tops
    assert "stet/py.typed" in wheel_names
    assert any(n.endswith("licenses/LICENSE") for n in wheel_names), wheel_names


def test_the_license_is_the_full_mit_text() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_no_page_installs_the_unrelated_stet_of_the_package_index() -> None:
    """An older, unrelated ``stet`` is on the public index: every page installs this one
    from a copy of the repository (``pip install .``, ``".[extra]"``)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    wrong = re.compile(r"pip install\s+(-U\s+)?[\"']?stet\b")
    found = [
        f"{page.relative_to(ROOT)}:{number}: {line.strip()}"
        for page in pages
        for number, line in enumerate(page.read_text().splitlines(), 1)
        if wrong.search(line) and "unrelated" not in line  # the warning itself
    ]
    assert not found, found
