"""Promise 9 as users meet it: a store URL's password never shows, in the console script,
in a script's output and its tracebacks, in a notebook, or in any file stet writes.

The URLs come from a real PostgreSQL server (its password holds an ``@``, so the URL
spells it ``%40``: neither spelling may show). Each failing store is one a user makes:
a wrong password, a port nothing listens on, a database that does not exist, a password
in the query string, a password with an ``@`` not percent-encoded.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import outside
import pgserver
import pytest


def forms(password: str) -> set[str]:
    """Every spelling of a password that must not show, and its random tail alone."""
    return {password, quote(password, safe=""), password.rpartition("@")[2]}


def with_table(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}table=t_{secrets.token_hex(5)}"


def without_password(url: str) -> str:
    """The URL as stet shows it: ``user@host``, no ``:password``."""
    return url.replace(f":{urlsplit(url).password}@", "@")


def leaks(secret_forms: set[str], texts: dict[str, str]) -> list[str]:
    return [
        f"{where}: {form!r}"
        for where, text in texts.items()
        for form in secret_forms
        if form in text
    ]


def files(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` and its text (its name too)."""
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = Path(root, name)
            found[str(path)] = f"{path}\n{path.read_bytes().decode('utf-8', 'replace')}"
    return found


def output(done: subprocess.CompletedProcess[str]) -> str:
    return f"{done.stdout}\n{done.stderr}"


# A script a user runs: runs, skips, a failure recorded, a sweep with its bar and summary,
# status, records, load and convert; the URL comes as its first argument.
SCRIPT = """
import sys, warnings
import stet

warnings.simplefilter("always")
url = sys.argv[1]

@stet.once(store=url, results=True, failures="record")
def point(i):
    if i == 3:
        raise ValueError("no good")
    return i * 2

print(repr(point), point(1), point(2), point(1))
try:
    point(3)
except ValueError as error:
    print("failed:", error)
summary = stet.sweep(point, {"i": range(5)}, progress="always")
print(summary)
print(repr(summary))
point.status(grid={"i": range(5)})
stet.status(url)
print(stet.records(url))
print(stet.load(url).to_string())
stet.convert(url, "back.csv")
stet.convert("back.csv", sys.argv[2])
"""

# A script that dies of a store error, wrapped in an error of its own: Python prints
# the whole chain.
DIES = """
import sys
import stet

try:
    stet.once(store=sys.argv[1], name="point")(lambda i: i)(1)
except Exception as error:
    raise RuntimeError("the sweep could not start") from error
"""


def test_a_working_store_never_shows_its_password(
    tmp_path: Path, postgres_server: pgserver.Server
) -> None:
    url, other = with_table(postgres_server.url), with_table(postgres_server.url)
    seen: dict[str, str] = {}
    ran = outside.run_script(SCRIPT, tmp_path, url, other)
    assert ran.returncode == 0, ran.stderr
    assert "Skipping point(i=1)" in ran.stdout and "Sweep of point" in ran.stdout
    assert "%|" in ran.stderr  # the progress bar
    seen["script"] = output(ran)
    shown = without_password(url)
    assert f"records from {shown} to back.csv" in ran.stdout
    commands = [
        ["status", url],
        ["status", "--json", url],
        ["status", "--function", "point", url],
        ["show", url],
        ["show", "--failed", url],
        ["show", "--where", "i=1", url],
        ["show", "--where", "nope=1", url],
        ["convert", url, "again.csv"],
        ["convert", "back.csv", url],  # it exists: refused
        ["convert", "back.csv", with_table(postgres_server.url)],
        ["reset", "--where", "i=1", "--yes", url],
        ["reset", "--failed", "--yes", url],
        ["reset", "--yes", url],
        ["reset", "--yes", url],  # nothing left
    ]
    codes = []
    for command in commands:
        done = outside.run_cli(command, tmp_path)
        codes.append(done.returncode)
        seen[f"{len(seen)}: stet {' '.join(command[:-1])}"] = output(done)
    assert codes == [0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0], codes
    said = list(seen.values())
    assert json.loads(said[2])["store"] == shown
    assert "already exists" in said[9], said[9]
    assert f"records from {shown} to again.csv" in said[8]
    seen.update(files(tmp_path))
    assert leaks(forms(postgres_server.password), seen) == []


def failing_urls(server: pgserver.Server, wrong: str) -> dict[str, str]:
    """Store URLs that fail as users make them fail, each with the password ``wrong``
    (the unknown database with the server's own: a wrong one fails before)."""
    parts = urlsplit(server.url)
    host = parts.netloc.rpartition("@")[2]
    encoded = quote(wrong, safe="")
    url = urlunsplit(parts._replace(netloc=f"stet:{encoded}@{host}"))
    return {
        "wrong password": with_table(url),
        "refused port": with_table(url.replace(f"@{host}", "@127.0.0.1:1")),
        "unknown database": with_table(urlunsplit(parts._replace(path="/nowhere"))),
        "password in the query": with_table(
            urlunsplit(parts._replace(netloc=f"stet@{host}", query=f"password={encoded}"))
        ),
        "unencoded @": with_table(url.replace(encoded, wrong)),
    }


def test_a_failing_store_is_one_line_without_the_password(
    tmp_path: Path, postgres_server: pgserver.Server
) -> None:
    wrong = f"p@ss-{secrets.token_hex(8)}"  # the URL spells it p%40ss-...
    (tmp_path / "leak.csv").write_text("a,b\n1,2\n")
    seen: dict[str, str] = {}
    for case, url in failing_urls(postgres_server, wrong).items():
        for command in (
            ["status", url],
            ["status", "--json", url],
            ["show", url],
            ["reset", "--yes", url],
            ["convert", url, "back.csv"],
            ["convert", "leak.csv", url],
        ):
            done = outside.run_cli(command, tmp_path)
            assert done.returncode == 1, (case, command, output(done))
            assert done.stderr.startswith("stet: error: ") and done.stderr.count("\n") == 1, (
                case,
                done.stderr,
            )
            seen[f"{case}: stet {' '.join(command[:-1])}"] = output(done)
        died = outside.run_script(DIES, tmp_path, url)
        assert "Traceback" in died.stderr and "the sweep could not start" in died.stderr
        assert "The above exception was the direct cause" in died.stderr, died.stderr
        seen[f"{case}: a script's traceback"] = output(died)
    assert "password authentication failed" in seen["wrong password: stet status"]
    assert "percent-encode" in seen["unencoded @: stet status"]
    assert 'database "nowhere" does not exist' in seen["unknown database: stet show"]
    seen.update(files(tmp_path))
    assert leaks(forms(wrong) | forms(postgres_server.password), seen) == []


def test_a_notebook_never_shows_the_password(
    tmp_path: Path, postgres_server: pgserver.Server
) -> None:
    url = with_table(postgres_server.url)
    wrong = next(iter(failing_urls(postgres_server, f"wr0ng@{secrets.token_hex(8)}").values()))
    (tmp_path / "urls.json").write_text(json.dumps([url, wrong]))
    texts = outside.run_notebook(
        [
            "import json, stet\nurl, wrong = json.load(open('urls.json'))",
            "point = stet.once(store=url, name='point')(lambda i: i)\npoint(1), point(1)",
            "point.status()",
            "stet.convert(url, 'back.csv')",
            "stet.once(store=wrong, name='point')(lambda i: i)(1)",
            "stet.status(wrong)",
        ],
        tmp_path,
    )
    assert "Skipping" in texts[1] and "Store: postgresql://stet@" in texts[2]
    assert "Converted 1 record from postgresql://stet@" in texts[3]
    assert texts[4].startswith("StoreConnectionError: ") and "StoreConnectionError" in texts[5]
    (tmp_path / "urls.json").unlink()
    seen = {f"cell {n}": text for n, text in enumerate(texts)} | files(tmp_path)
    secret = forms(postgres_server.password) | forms(urlsplit(wrong).password or "")
    assert leaks(secret, seen) == []


@pytest.mark.parametrize("command", ["status", "show", "reset"])
def test_the_cli_names_a_store_it_cannot_find_without_the_password(
    command: str, tmp_path: Path, postgres_server: pgserver.Server
) -> None:
    url = with_table(postgres_server.url)
    done = outside.run_cli(
        [command, "--yes", url] if command == "reset" else [command, url], tmp_path
    )
    shown = without_password(url)
    assert shown in output(done)
    assert leaks(forms(postgres_server.password), {command: output(done)}) == []


@pytest.mark.parametrize(
    "mistake",
    [
        ["{url}"],  # the command forgotten
        ["show", "--last", "{url}"],  # the number forgotten
        ["show", "--where", "{url}"],
        ["status", "{url}", "{url}"],  # two stores
    ],
)
def test_a_usage_error_quotes_the_url_without_its_password(
    mistake: list[str], tmp_path: Path
) -> None:
    password = f"p@ss-{secrets.token_hex(8)}"
    url = f"postgresql://ann:{quote(password, safe='')}@db.example.org/lab"
    done = outside.run_cli([part.format(url=url) for part in mistake], tmp_path)
    assert done.returncode == 2, output(done)
    assert "postgresql://ann@db.example.org/lab" in done.stderr, done.stderr
    assert leaks(forms(password), {"usage": output(done)}) == []
