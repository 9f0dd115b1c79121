"""A function's identity: its name, a partial's bound arguments, the code history.

The outside-in tests (tests/as_a_user/test_function_identity.py) drive the same cases
from scripts, the console script and a notebook; these pin down the pieces.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import stet
from stet._admin import status_data
from stet._provenance import code_of, fingerprint, runs_per_version


def _compiled(source: str, name: str = "f") -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(source), "<test>", "exec"), namespace)
    return namespace[name]


def _print_of(source: str) -> str:
    return fingerprint(code_of(_compiled(source)))


BASE = """
def f(x, y):
    z = compute(x, y)
    if z:
        pass
    try:
        a()
        b()
    except ValueError:
        return None
    return [i for i in range(z) if i in {"p", "q", "r"}]
"""


def test_the_fingerprint_ignores_comments_docstrings_and_layout() -> None:
    restyled = '''
    def f(x, y):
        """A docstring."""
        # a comment
        z = compute(
            x,
            y,
        )
        if z: pass


        try:
            a(); b()
        except ValueError:
            return None
        return [
            i for i in range(z)
            if i in {"p", "q", "r"}
        ]
    '''
    assert _print_of(restyled) == _print_of(BASE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("compute(x, y)", "compute(x, y + 1)"),  # a constant
        ("compute(x, y)", "other(x, y)"),  # a name
        ('{"p", "q", "r"}', '{"p", "q", "s"}'),  # a constant of a nested comprehension
        ("if i in", "if i not in"),  # an instruction of the nested code
        ("    try:\n        a()\n", "    a()\n    try:\n"),  # what a try covers
    ],
)
def test_the_fingerprint_sees_changes_of_code(old: str, new: str) -> None:
    changed = BASE.replace(old, new)
    assert changed != BASE
    assert _print_of(changed) != _print_of(BASE)


def test_the_fingerprint_is_the_same_in_every_process() -> None:
    script = (
        "import sys, textwrap\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_provenance import BASE, _print_of\n"
        "print(_print_of(BASE))\n"
    )
    here = str(Path(__file__).parent)
    seen = set()
    for seed in ("0", "1", "12345"):  # str hashes (and frozenset order) differ per seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script, here], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        seen.add(done.stdout.strip())
    assert seen == {_print_of(BASE)}


def test_a_wraps_chain_is_fingerprinted_through_every_layer() -> None:
    def logged(func: Any) -> Any:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        return wrapper

    one = logged(_compiled("def f(x):\n    return x + 1\n"))
    two = logged(_compiled("def f(x):\n    return x + 2\n"))
    assert [c.co_name for c in code_of(one)] == ["wrapper", "f"]
    assert fingerprint(code_of(one)) != fingerprint(code_of(two))


def test_runs_are_counted_per_version_whatever_the_order_of_the_clocks() -> None:
    entries = [
        {"since": "2026-01-03T00:00:00.000000+00:00", "code": "b"},  # a node's clock behind
        {"since": "2026-01-02T00:00:00.000000+00:00", "code": "a"},
    ]
    stamps = [
        "2026-01-01T00:00:00.000000+00:00",  # before the history
        "2026-01-02T10:00:00.000000+00:00",  # a
        "2026-01-02T11:00:00.000000+00:00",  # a
        "2026-01-04T00:00:00.000000+00:00",  # b
    ]
    assert runs_per_version(entries, stamps) == [1, 1, 2]


def test_a_partial_is_keyed_by_its_functions_parameters(tmp_path: Path) -> None:
    ran = []

    def base(a: int, b: int, c: int = 0) -> None:
        ran.append((a, b, c))

    store = str(tmp_path / "s.csv")
    one = stet.once(store=store)(functools.partial(base, 1))
    two = stet.once(store=store)(functools.partial(base, 2))
    only_b = stet.once(store=store, ignore=["c"])(functools.partial(base, 3, c=9))
    one(5)
    two(5)
    one(5)
    only_b(5)
    only_b(5, c=8)  # c is not in the key
    assert ran == [(1, 5, 0), (2, 5, 0), (3, 5, 9)]
    assert one.__name__ == "base"  # type: ignore[attr-defined]
    header = Path(store).read_text().splitlines()[0]
    assert header == "a,b,c,_stet_timestamp"


def test_a_partial_of_a_method_leaves_self_out_of_the_key(tmp_path: Path) -> None:
    class Model:
        def fit(self, order: int, x: int) -> int:
            return order * x

    fit = stet.once(store=str(tmp_path / "s.csv"), results=True)(
        functools.partial(Model.fit, Model(), 2)
    )
    assert fit(3) == 6
    assert fit(3) == 6  # skipped: its stored result
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "order,x,result,_stet_timestamp"


def test_a_partial_binding_more_than_the_named_parameters_is_refused(tmp_path: Path) -> None:
    def base(a: int, *rest: int) -> None:
        raise AssertionError("never runs")

    with pytest.raises(TypeError, match=r"binds 2 positional arguments.*functools.partial"):
        stet.once(store=str(tmp_path / "s.csv"))(functools.partial(base, 1, 2))


def test_a_partial_can_be_swept(tmp_path: Path) -> None:
    ran = []

    def base(a: int, b: int) -> None:
        ran.append((a, b))

    p = stet.once(store=str(tmp_path / "s.csv"))(functools.partial(base, 1))
    p(0)
    summary = stet.sweep(p, {"b": [0, 1, 2]}, progress=False)
    assert ran == [(1, 0), (1, 1), (1, 2)]
    assert summary.done_before == 1


@pytest.mark.parametrize("name", ["", "  ", 3])
def test_a_bad_name_is_refused(name: Any) -> None:
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        stet.once(name=name)


def test_an_owner_file_from_before_still_reads_and_keeps_its_function(tmp_path: Path) -> None:
    store = tmp_path / "s.csv"
    store.write_text("n,_stet_timestamp\n1,2026-01-01T00:00:00.000000+00:00\n")
    owner = tmp_path / "s.csv.owner"
    owner.write_text(json.dumps({"function": "g", "about": "older stet"}))
    ran = []

    @stet.once(store=str(store), name="g")
    def g(n: int) -> None:
        ran.append(n)

    g(1)
    g(2)
    assert ran == [2]
    data = json.loads(owner.read_text())
    assert data["function"] == "g"
    assert [e["code"] for e in data["history"]["g"]] == [fingerprint(code_of(g.__wrapped__))]  # type: ignore[attr-defined]
    stet.status(str(store))  # the record from before the history counts, apart


def test_convert_keeps_the_history(tmp_path: Path) -> None:
    @stet.once(store=str(tmp_path / "s.csv"))
    def h(n: int) -> None:
        pass

    h(1)
    stet.convert(str(tmp_path / "s.csv"), str(tmp_path / "s.jsonl"))
    source = json.loads((tmp_path / "s.csv.owner").read_text())["history"]
    assert json.loads((tmp_path / "s.jsonl.owner").read_text())["history"] == source


def test_postgresql_keeps_the_history_in_its_meta_table(
    postgres_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _compiled("def calc(n):\n    return n\n", "calc")
    fixed = _compiled("def calc(n):\n    return n + 1\n", "calc")
    one = stet.once(store=postgres_store)(first)
    for n in range(3):
        one(n)
    two = stet.once(store=postgres_store)(fixed)
    capsys.readouterr()
    two(0)
    two(1)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "[stet] calc's code has changed since its 3 runs were recorded; they still count as "
        "done (calc.reset() runs them again)",
        "[stet] Skipping calc(n=0)",
        "[stet] Skipping calc(n=1)",
    ]
    two(3)
    history = status_data(postgres_store)["history"]["calc"]
    assert [v["runs"] for v in history] == [3, 1]
    assert history[0]["code"] != history[1]["code"]
    stet.reset(postgres_store, confirm=False)
    assert status_data(postgres_store)["history"] == {}


def test_older_records_lacking_a_bound_parameter_count_for_no_partial(tmp_path: Path) -> None:
    store = tmp_path / "s.csv"
    store.write_text("b,_stet_timestamp\n5,2026-01-01T00:00:00.000000+00:00\n")
    (tmp_path / "s.csv.owner").write_text(json.dumps({"function": "base"}))
    ran = []

    def base(a: int, b: int) -> None:
        ran.append((a, b))

    one = stet.once(store=str(store), name="base")(functools.partial(base, 1))
    two = stet.once(store=str(store), name="base")(functools.partial(base, 2))
    one(5)
    two(5)
    assert ran == [(1, 5), (2, 5)]


def test_a_partial_of_a_generator_function_is_refused(tmp_path: Path) -> None:
    def numbers(a: int, b: int) -> Any:
        yield a + b

    with pytest.raises(TypeError, match="cannot decorate the generator function"):
        stet.once(store=str(tmp_path / "s.csv"))(functools.partial(numbers, 1))
