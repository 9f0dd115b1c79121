"""Calls one decorated function with pickled values and reports which calls ran.

Used in-process by the identity tests and, as a script, in a fresh process:
``python probes/identity.py STORE VALUES.pickle`` prints a JSON list of booleans.
"""

from __future__ import annotations

import json
import pickle
import sys
from typing import Any

import stet

EXECUTED: list[Any] = []


def body(x: Any) -> None:
    EXECUTED.append(x)


def run(store: str, values: list[Any]) -> list[bool]:
    probe = stet.once(store=store, verbose=False)(body)
    ran = []
    for value in values:
        before = len(EXECUTED)
        probe(value)
        ran.append(len(EXECUTED) > before)
    return ran


def outcomes(store: str, values: list[Any]) -> list[str]:
    """Each call's outcome: ``ran``, ``skipped``, or ``refused: Error: message``.

    A refusal must come before the body: ``ran, then refused`` says it came after.
    """
    probe = stet.once(store=store, verbose=False)(body)
    found = []
    for value in values:
        before = len(EXECUTED)
        try:
            probe(value)
        except (TypeError, ValueError) as error:
            late = "ran, then " if len(EXECUTED) > before else ""
            found.append(f"{late}refused: {type(error).__name__}: {error}")
            continue
        found.append("ran" if len(EXECUTED) > before else "skipped")
    return found


if __name__ == "__main__":
    store_path, values_path = sys.argv[1:]
    with open(values_path, "rb") as handle:
        print(json.dumps(run(store_path, pickle.load(handle))))
