"""Results and failures of ``@stet.once`` in a fresh interpreter, for test_results.py and
test_failures.py.

``python probes/results.py STORE LOG MODE [COUNT]`` (with ``tests/`` on ``PYTHONPATH``)
decorates the functions of
:func:`functions` with ``STORE`` and calls them; each execution of a body appends one line
``<function> <i>`` to the file ``LOG`` with its own write, so a test counts executions
across processes. Every call prints one JSON line ``{"call": ..., "i": ..., "got": ...}``
(``got`` is :func:`shape` of what it returned) or ``{"call": ..., "i": ...,
"raised": "ValueError: bad 1"}``. Modes:

``catalog``
    ``scalar(i)`` for every value of :data:`SCALARS`, then ``metrics``, ``measured``,
    ``maybe`` and ``pair`` for ``i`` in ``range(RECORDS)``; each call twice (the second
    is a skip in this process).
``plain``
    ``scalar(i)`` for every value of :data:`SCALARS` with ``results=False``.
``readback``
    ``scalar(i)`` for ``i`` in ``range(COUNT)``: values a test recorded in its own process
    (a body that runs here finds no value and raises ``KeyError``).
``literal``
    ``scalar(i)`` returning the values of a list given instead of COUNT as its ``repr``
    (``nan`` and ``inf`` included).
``record`` / ``skip``
    ``flaky(a)`` for ``a`` in ``range(4)`` with ``failures=MODE``: odd ``a`` raise
    ``ValueError("bad <a>")``.
``sweep-record`` / ``sweep-skip``
    ``stet.sweep(flaky, {"a": range(COUNT)})`` with ``failures=...``; prints
    ``{"summary": ...}`` (the summary's fields; ``failures``: how many).
``status``
    ``flaky.status(grid=...)`` and ``stet.status(STORE, grid=...)`` over ``range(COUNT)``.

The tests import this module too: :data:`SCALARS`, :func:`shape` and :func:`expected`
say what a call must give back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import stet
from probes import note

SCALARS: list[Any] = [
    0,
    1,
    -7,
    2**60,
    -(2**63),
    2**70,
    1.5,
    0.1,
    -0.0,
    0.0,
    math.nan,
    math.inf,
    -math.inf,
    1e300,
    5e-324,
    "",
    "abc",
    "1.5",
    "None",
    "True",
    "1",
    "nan",
    "[1, 2]",
    "(1, 2)",
    'a,"b"\nc ü €',
    "'quoted'",
    " x ",
    "file:result.npy",  # text, not a result file: kept as a quoted literal
    ["file:x"],
    True,
    False,
    None,
    (),
    (1,),
    (1, 2.5, "x", None, True),
    [],
    [1, 2],
    [[1, 2], (3, [4])],
    ((1, [2, "x"]),),
    ("[",),
    np.int64(3),
    np.float64(0.25),
    np.float32(0.5),
    np.bool_(False),
    np.int8(-4),
]
RECORDS = 4  # calls of each function with a dict, dataclass or named tuple result


@dataclasses.dataclass
class Metrics:
    loss: float
    steps: int
    tags: list[Any]
    note: str | None = None


class Pair(NamedTuple):
    x: int
    label: str


def metrics_of(i: int) -> dict[str, Any]:
    return {
        "loss": i / 4,
        "n": i * 3,
        "label": f"run {i}, \"q\"\n'{i}'",
        "ok": i % 2 == 0,
        "shape": (i, "x"),
        "none": None,
        "a b": -i,
    }


def measured_of(i: int) -> Metrics:
    return Metrics(loss=i + 0.5, steps=10 * i, tags=[i, "t", (i,)], note=None if i else "")


def maybe_of(i: int) -> Metrics | None:
    return None if i % 2 else Metrics(loss=-float(i), steps=i, tags=[], note="even")


def pair_of(i: int) -> Pair:
    return Pair(x=i, label=f"p{i}")


SOURCE: dict[int, Any] = {}  # what scalar(i) returns; filled by the caller
LOG: list[str | None] = [None]  # the file each execution of a body is noted in


def executed(text: str) -> None:
    """Note one execution of a body in the log, if there is one."""
    if LOG[0]:
        note(LOG[0], text)


# The bodies: module-level functions, so that their labels in a store are plain names.


def scalar(i: int) -> Any:
    executed(f"scalar {i}")
    return SOURCE[i]


def metrics(i: int) -> dict[str, Any]:
    executed(f"metrics {i}")
    return metrics_of(i)


def measured(i: int) -> Metrics:
    executed(f"measured {i}")
    return measured_of(i)


def maybe(i: int) -> Metrics | None:
    executed(f"maybe {i}")
    return maybe_of(i)


def pair(i: int) -> Pair:
    executed(f"pair {i}")
    return pair_of(i)


def flaky(a: int) -> int:
    executed(f"flaky {a}")
    if a % 2:
        raise ValueError(f"bad {a}")
    return a * 10


BODIES = {f.__name__: f for f in (scalar, metrics, measured, maybe, pair, flaky)}


def functions(
    store: str,
    log: str | None = None,
    *,
    results: bool = True,
    failures: Any = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """The bodies decorated with ``@stet.once`` on ``store``, by name; executions go to
    ``log``."""
    LOG[0] = log
    once = stet.once(
        store=store, results=results, failures=failures, verbose=verbose, skip_lines=10_000
    )
    return {name: once(body) for name, body in BODIES.items()}


def shape(value: Any) -> Any:
    """A value as JSON that tells its type apart: ``1``, ``1.0``, ``True``, ``"1"``,
    ``-0.0``, ``nan``, a list from a tuple, a NumPy scalar from a Python number."""
    kind = type(value)
    if value is None:
        return ["None"]
    if kind is bool:
        return ["bool", value]
    if kind is int:
        return ["int", str(value)]
    if kind is float:
        return ["float", repr(value)]
    if kind is str:
        return ["str", value]
    if kind is list or kind is tuple:
        return [kind.__name__, [shape(item) for item in value]]
    if kind is dict:
        return ["dict", {str(key): shape(item) for key, item in value.items()}]
    if dataclasses.is_dataclass(value):
        fields = {f.name: shape(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return [kind.__qualname__, fields]
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return [kind.__qualname__, {name: shape(getattr(value, name)) for name in value._fields}]
    return ["other", f"{kind.__module__}.{kind.__qualname__}", repr(value)]


def expected(value: Any) -> Any:
    """What a skip gives back for ``value``: NumPy scalars as the equal Python number."""
    if isinstance(value, np.generic):
        return value.item()
    if type(value) is list:
        return [expected(item) for item in value]
    if type(value) is tuple:
        return tuple(expected(item) for item in value)
    if type(value) is dict:
        return {key: expected(item) for key, item in value.items()}
    return value


def main(store: str, log: str, mode: str, argument: str) -> None:
    def call(name: str, function: Callable[..., Any], i: int) -> None:
        try:
            got = function(i)
        except Exception as error:
            print(json.dumps({"call": name, "i": i, "raised": f"{type(error).__name__}: {error}"}))
        else:
            print(json.dumps({"call": name, "i": i, "got": shape(got)}))
        sys.stdout.flush()

    if mode in ("record", "skip"):
        flaky = functions(store, log, results=False, failures=mode)["flaky"]
        for a in range(4):
            call("flaky", flaky, a)
        return
    count = int(argument) if argument.isdigit() else 0
    if mode.startswith("sweep-"):
        flaky = functions(store, log, results=False, failures=mode[6:])["flaky"]
        done = stet.sweep(flaky, {"a": range(count)}, progress=False)
        print(json.dumps({"summary": dataclasses.asdict(done) | {"failures": len(done.failures)}}))
        return
    if mode == "status":
        flaky = functions(store, log, results=False, failures="record")["flaky"]
        flaky.status(grid={"a": range(count)})
        stet.status(store, grid={"a": range(count)})
        return
    found = functions(store, log, results=mode != "plain")
    if mode == "readback":
        for i in range(count):
            call("scalar", found["scalar"], i)
        return
    if mode == "literal":
        values = eval(argument, {"__builtins__": {}, "nan": math.nan, "inf": math.inf})
        SOURCE.update(enumerate(values))
        for i in range(len(values)):
            call("scalar", found["scalar"], i)
        return
    SOURCE.update(enumerate(SCALARS))
    for i in range(len(SCALARS)):
        for _ in range(1 if mode == "plain" else 2):
            call("scalar", found["scalar"], i)
    if mode == "catalog":
        for name in ("metrics", "measured", "maybe", "pair"):
            for i in range(RECORDS):
                for _ in range(2):
                    call(name, found[name], i)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")
