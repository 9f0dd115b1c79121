"""Which function a run belongs to, as users meet it (issue 13, promises 2 and 10).

A partial's bound arguments, a callable object, ``partialmethod``, decorators of
decorators; two scripts with one function name in one store; the code of a function
that changed. Every test drives stet from a fresh interpreter, the console script or a
real Jupyter kernel.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import outside
import pytest
from formats import FILE_FORMATS

CODE_CHANGED = (
    "[stet] calculation's code has changed since its 4 runs were recorded; they still "
    "count as done (calculation.reset() runs them again)"
)

CALCULATION = """
import stet

@stet.once(store=STORE)
def calculation(alpha, beta):
    print("ran", alpha, beta)

for alpha in (0, 1):
    for beta in (0, 1):
        calculation(alpha, beta)
"""


def calculation_script(store: str, body: str = 'print("ran", alpha, beta)') -> str:
    return CALCULATION.replace("STORE", repr(store)).replace('print("ran", alpha, beta)', body)


def run_ok(code: str, cwd: Path, name: str = "script.py") -> list[str]:
    """Run a script; its standard output's lines (it must succeed)."""
    done = outside.run_script(code, cwd, name=name)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


# -- partials and other callables


PARTIALS = """
import functools
import stet

def base(a, b):
    print("ran base", a, b)

p1 = stet.once(store="s.csv")(functools.partial(base, 1))
p2 = stet.once(store="s.csv")(functools.partial(base, 2))
k3 = stet.once(store="s.csv")(functools.partial(base, b=3))
p1(5)
p2(5)
k3(5)
k3(5, b=4)
"""


def test_partials_of_one_function_are_told_apart_by_what_they_bind(tmp_path: Path) -> None:
    first = run_ok(PARTIALS, tmp_path)
    assert first == ["ran base 1 5", "ran base 2 5", "ran base 5 3", "ran base 5 4"]
    again = run_ok(PARTIALS, tmp_path)
    assert again == [
        "[stet] Skipping base(a=1, b=5)",
        "[stet] Skipping base(a=2, b=5)",
        "[stet] Skipping base(a=5, b=3)",
        "[stet] Skipping base(a=5, b=4)",
    ]
    header = (tmp_path / "s.csv").read_text().splitlines()[0]
    assert header == "a,b,_stet_timestamp"  # the announcement's layout: key columns, time


def test_a_callable_object_is_refused_before_it_runs_unless_named(tmp_path: Path) -> None:
    code = """
    import stet

    class Model:
        def __init__(self, seed):
            self.seed = seed
        def __call__(self, x):
            print("ran", self.seed, x)

    try:
        stet.once(store="s.csv")(Model(1))
    except TypeError as error:
        print("refused:", error)
    a = stet.once(store="s.csv", name="model_1")(Model(1))
    b = stet.once(store="s.csv", name="model_2")(Model(2))
    a(5)
    b(5)
    a(5)
    """
    lines = run_ok(code, tmp_path)
    assert lines[0].startswith("refused: @stet.once on a Model object: its attributes")
    assert 'stet.once(name="model_a")(obj)' in lines[0]
    assert "Model.__call__" in lines[0]
    assert lines[1:] == ["ran 1 5", "ran 2 5", "[stet] Skipping model_1(x=5)"]


def test_partialmethods_of_one_method_are_told_apart(tmp_path: Path) -> None:
    code = """
    import functools
    import stet

    class Fit:
        def fit(self, order, x):
            print("ran", order, x)
        linear = stet.once(store="s.csv")(functools.partialmethod(fit, 1))
        square = stet.once(store="s.csv")(functools.partialmethod(fit, 2))

    Fit().linear(5)
    Fit().square(5)
    Fit().linear(5)
    """
    assert run_ok(code, tmp_path) == ["ran 1 5", "ran 2 5", "[stet] Skipping fit(order=1, x=5)"]


WRAPPED = """
import functools
import stet

def logged(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper

@stet.once(store="s.csv")
@logged
def calculation(alpha, beta):
    BODY

for alpha in (0, 1):
    for beta in (0, 1):
        calculation(alpha, beta)
"""


def test_a_decorated_function_keeps_its_name_and_its_own_code_counts(tmp_path: Path) -> None:
    assert (
        run_ok(WRAPPED.replace("BODY", "print('ran', alpha)"), tmp_path)
        == ["ran 0"] * 2 + ["ran 1"] * 2
    )
    # the wrapper's code is the same; the function inside it changed
    lines = run_ok(WRAPPED.replace("BODY", "print('ran', beta)"), tmp_path)
    assert lines[0] == CODE_CHANGED
    assert lines[1] == "[stet] Skipping calculation(alpha=0, beta=0)"


def test_lambdas_are_refused_unless_named(tmp_path: Path) -> None:
    code = """
    import stet

    try:
        stet.once(store="s.csv")(lambda x: x)
    except TypeError as error:
        print("refused:", error)
    square = stet.once(store="s.csv", name="square")(lambda x: print("square", x))
    cube = stet.once(store="s.csv", name="cube")(lambda x: print("cube", x))
    square(2)
    cube(2)
    square(2)
    """
    lines = run_ok(code, tmp_path)
    assert lines[0].startswith("refused: @stet.once on a lambda: every lambda is named <lambda>")
    assert 'stet.once(name="square")' in lines[0]
    assert lines[1:] == ["square 2", "cube 2", "[stet] Skipping square(x=2)"]


# -- two functions with one name in one store


RUN = """
import stet

@stet.once{options}
def run(n):
    print("ran", n, {tag!r})

for n in range(3):
    run(n)
"""


def test_a_second_script_with_the_same_function_name_is_told(tmp_path: Path) -> None:
    assert run_ok(RUN.format(options="", tag="a"), tmp_path, "a.py") == [
        "ran 0 a",
        "ran 1 a",
        "ran 2 a",
    ]
    lines = run_ok(RUN.format(options="", tag="b"), tmp_path, "b.py")
    assert lines[0] == (
        "[stet] run: its 3 runs were recorded in _stet_store.csv by a.py (with other code); "
        "this call is from b.py, and they count as done here too. If this is another "
        'function, give it its own store (@stet.once(store="...")) or name '
        '(@stet.once(name="...")); run.reset() runs them again'
    )
    assert lines[1:] == [f"[stet] Skipping run(n={n})" for n in range(3)]
    # the way out: a name of its own
    named = run_ok(RUN.format(options='(name="b.run")', tag="b"), tmp_path, "b.py")
    assert named == ["ran 0 b", "ran 1 b", "ran 2 b"]
    # and a.py is told nothing: its runs are its own
    assert run_ok(RUN.format(options="", tag="a"), tmp_path, "a.py") == [
        f"[stet] Skipping run(n={n})" for n in range(3)
    ]


def test_a_copied_script_keeps_its_runs_and_is_told_once(tmp_path: Path) -> None:
    run_ok(RUN.format(options="", tag="a").replace("range(3)", "range(2)"), tmp_path, "sweep.py")
    shutil.copy(tmp_path / "sweep.py", tmp_path / "sweep_v2.py")
    code = (tmp_path / "sweep.py").read_text().replace("range(2)", "range(4)")
    lines = run_ok(code, tmp_path, "sweep_v2.py")
    assert lines == [
        "[stet] run: its 2 runs were recorded in _stet_store.csv by sweep.py; this call is "
        "from sweep_v2.py, and they count as done here too. If this is another function, "
        'give it its own store (@stet.once(store="...")) or name (@stet.once(name="...")); '
        "run.reset() runs them again",
        "[stet] Skipping run(n=0)",
        "[stet] Skipping run(n=1)",
        "ran 2 a",
        "ran 3 a",
    ]


def test_runs_a_version_recorded_itself_are_skipped_without_a_note(tmp_path: Path) -> None:
    first = RUN.format(options="", tag="a")
    run_ok(first, tmp_path, "a.py")
    second = first.replace("range(3)", "range(5)").replace("'a'", "'b'")
    assert run_ok(second, tmp_path, "a.py")[0].startswith("[stet] run's code has changed")
    # its own runs (3 and 4) first: nothing to say; then an old one: said before it
    lines = run_ok(second.replace("range(5)", "[3, 4, 0, 1]"), tmp_path, "a.py")
    assert lines == [
        "[stet] Skipping run(n=3)",
        "[stet] Skipping run(n=4)",
        "[stet] run's code has changed since its 3 runs were recorded; they still count as "
        "done (run.reset() runs them again)",
        "[stet] Skipping run(n=0)",
        "[stet] Skipping run(n=1)",
    ]


# -- the code changed


@pytest.mark.parametrize("extension", FILE_FORMATS)
def test_a_changed_function_is_told_once_and_nothing_reruns(tmp_path: Path, extension: str) -> None:
    store = f"runs.{extension}"
    first = run_ok(calculation_script(store), tmp_path)
    assert first == ["ran 0 0", "ran 0 1", "ran 1 0", "ran 1 1"]  # nothing new on a first run
    fixed = calculation_script(store, 'print("fixed", alpha, beta)')
    lines = run_ok(fixed, tmp_path)
    assert lines[0] == CODE_CHANGED.replace("its 4 runs", "its 4 runs")
    assert lines[1:] == [
        f"[stet] Skipping calculation(alpha={a}, beta={b})" for a in (0, 1) for b in (0, 1)
    ]
    assert run_ok(fixed, tmp_path)[0] == CODE_CHANGED  # again in a new process, once


def test_comments_docstrings_and_formatting_are_not_a_change(tmp_path: Path) -> None:
    run_ok(calculation_script("s.csv"), tmp_path)
    restyled = calculation_script("s.csv").replace(
        "def calculation(alpha, beta):\n",
        'def calculation(alpha, beta):\n    """Docstring added."""\n    # a comment\n\n',
    )
    spread = 'print(\n        "ran",\n        alpha,\n        beta,\n    )'
    restyled = restyled.replace('print("ran", alpha, beta)', spread)
    assert "Docstring added" in restyled and "a comment" in restyled
    lines = run_ok(restyled, tmp_path)
    assert lines == [
        f"[stet] Skipping calculation(alpha={a}, beta={b})" for a in (0, 1) for b in (0, 1)
    ]


def test_reset_runs_them_again_under_the_new_code_and_status_shows_the_history(
    tmp_path: Path,
) -> None:
    run_ok(calculation_script("s.csv"), tmp_path)
    fixed = calculation_script("s.csv", 'print("fixed", alpha, beta)')
    extended = fixed.replace("for beta in (0, 1)", "for beta in (0, 1, 2)")
    ran = [line for line in run_ok(extended, tmp_path) if not line.startswith("[stet]")]
    assert ran == ["fixed 0 2", "fixed 1 2"]
    shown = outside.run_cli(["status", "s.csv"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = outside.stet_lines(shown.stdout)
    assert lines[:4] == [
        "[stet] Store: s.csv",
        "[stet] 6 completed experiments recorded",
        lines[2],
        "[stet] Key columns: alpha, beta",
    ]
    assert lines[4] == "[stet] Code history of calculation (its runs per version of its code):"
    assert lines[5].startswith("[stet]   4 runs by its code in script.py from 20")
    assert lines[6].startswith("[stet]   2 runs by its code in script.py from 20")
    data = json.loads(outside.run_cli(["status", "s.csv", "--json"], tmp_path).stdout)
    versions = data["history"]["calculation"]
    assert [v["runs"] for v in versions] == [4, 2]
    assert {v["file"] for v in versions} == {"script.py"}
    assert versions[0]["code"] != versions[1]["code"]
    assert versions[0]["since"] < versions[1]["since"]
    # calculation.reset() runs them again, under the new code: nothing more to say
    reset = fixed.replace("for alpha in", "calculation.reset(confirm=False)\nfor alpha in")
    lines = run_ok(reset, tmp_path)
    assert lines[1:] == ["fixed 0 0", "fixed 0 1", "fixed 1 0", "fixed 1 1"]
    assert run_ok(fixed, tmp_path) == [
        f"[stet] Skipping calculation(alpha={a}, beta={b})" for a in (0, 1) for b in (0, 1)
    ]
    # the owner file stays readable JSON, its first key the function as before
    owner = json.loads((tmp_path / "s.csv.owner").read_text())
    assert owner["function"] == "calculation" and "calculation" in owner["history"]


def test_a_full_reset_forgets_the_history(tmp_path: Path) -> None:
    run_ok(calculation_script("s.csv"), tmp_path)
    run_ok("import stet\nstet.reset('s.csv', confirm=False)\n", tmp_path, "reset.py")
    assert not (tmp_path / "s.csv.owner").exists()
    fixed = calculation_script("s.csv", 'print("fixed", alpha, beta)')
    assert run_ok(fixed, tmp_path) == ["fixed 0 0", "fixed 0 1", "fixed 1 0", "fixed 1 1"]
    assert run_ok(fixed, tmp_path)[0] == "[stet] Skipping calculation(alpha=0, beta=0)"


def test_a_notebook_cell_that_redefines_the_function_is_told_once(tmp_path: Path) -> None:
    define = "import stet\n@stet.once(store='nb.csv')\ndef calculation(alpha, beta):\n    BODY\n"
    loop = "for alpha in (0, 1):\n    for beta in (0, 1):\n        calculation(alpha, beta)"
    texts = outside.run_notebook(
        [
            define.replace("BODY", "print('ran', alpha, beta)"),
            loop,
            define.replace("BODY", "print('fixed', alpha, beta)"),  # the bug fixed
            loop,
            define.replace("BODY", "print('fixed', alpha, beta)"),  # the same cell again
            loop,
        ],
        tmp_path,
    )
    assert texts[1].splitlines() == ["ran 0 0", "ran 0 1", "ran 1 0", "ran 1 1"]
    assert texts[3].splitlines()[0] == CODE_CHANGED
    assert texts[3].splitlines()[1] == "[stet] Skipping calculation(alpha=0, beta=0)"
    assert CODE_CHANGED not in texts[5]  # once per function and process
    # a new kernel with the first code: its runs are its own, whatever the cell's file
    again = outside.run_notebook(
        [define.replace("BODY", "print('ran', alpha, beta)"), loop], tmp_path
    )
    assert outside.stet_lines(again[1]) == [
        f"[stet] Skipping calculation(alpha={a}, beta={b})" for a in (0, 1) for b in (0, 1)
    ]


def test_a_sweep_says_it_before_skipping_done_runs(tmp_path: Path) -> None:
    sweep = """
    import stet

    @stet.once(store="s.csv")
    def calculation(alpha, beta):
        BODY

    stet.sweep(calculation, {"alpha": [0, 1], "beta": [0, 1, 2]}, progress=False)
    """
    run_ok(sweep.replace("BODY", "pass").replace("[0, 1, 2]", "[0, 1]"), tmp_path)
    lines = run_ok(sweep.replace("BODY", "print(alpha)"), tmp_path)
    assert lines[0] == CODE_CHANGED
    assert CODE_CHANGED not in lines[1:]
