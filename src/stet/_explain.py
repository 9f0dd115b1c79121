"""Why a call would run or be skipped, without running it: ``f.explain(...)`` and ``stet why``.

The call is bound and keyed as the decorator does; the store is read once, fresh, into
a function index of its own (the store's shared index and files are left as they are),
and its live claims are looked at. The answer is an :class:`Explanation`: the key, the
state (``completed``, ``failed``, ``running``, ``not run``), the matching record, and
when none matches, the nearest records and the columns where they differ.
"""

from __future__ import annotations

import sys
from datetime import datetime

from ._claims import run_ident
from ._columns import (
    ERROR_COLUMN,
    FUNCTION_COLUMN,
    OUTPUT_COLUMN,
    RESERVED_PREFIX,
    TIMESTAMP_COLUMN,
)
from ._errors import facts_of
from ._index import FunctionIndex, add_records
from ._nearest import (
    Wanted,
    counted_by_default,
    kind_of,
    last_exact,
    near_lines,
    nearest,
    number_of,
    python_text,
    record_of,
    rows_of,
    split_failures,
)
from ._registry import get_store
from ._renamed import renamed_from
from ._runclaims import claim_key
from ._values import display, key_of, key_of_cell, plain_of, text_of_cell, value_of_cell
from .formats import is_url

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any, Literal

    from ._claims import Claim
    from ._nearest import Near
    from ._runner import Runner
    from ._snapshot import Snapshot
    from ._store import Store

    State = Literal["completed", "failed", "running", "not run"]

__all__ = [
    "WHY_DESCRIPTION",
    "WHY_HELP",
    "WHY_WHERE_HELP",
    "Explanation",
    "explain_call",
    "explain_values",
    "why",
]

WHY_WHERE_HELP = (
    "the run's values, each as the store shows it: --where alpha=0.1 seed=2 (or one "
    "--where per column); a record matches when it holds exactly these columns and values"
)
WHY_HELP = "whether a run of these values is in a store, and if not, the nearest runs"
WHY_DESCRIPTION = (
    "Say whether a run with the values of --where is in a store, without its function's "
    "code: the matching completed or failed record, a worker running it now, or the "
    "nearest records and each column where they differ. VALUE is the text the store shows "
    "(alpha=0.1, label=abc, flag=True, n='1' for the string 1); a run's key is all its "
    "columns, so give every one. Exit code 0 when a completed run matches, 1 otherwise."
)


class Explanation:
    """Why a call would run or be skipped; ``str()`` and ``repr()`` are the readable text.

    Attributes:
        call: how the call reads, ``simulate(alpha=0.1, seed=2)`` (``stet why``: the
            values as given, ``alpha=0.1, seed=2``).
        function: the name its runs are kept under (``stet why``: ``--function``, or None).
        store: the store, as messages show it (no password).
        key: each key column and the text stet keeps for it (``{"alpha": "0.1"}``).
        state: ``"completed"``, ``"failed"``, ``"running"`` or ``"not run"``.
        runs: whether a call now would run the function's body.
        record: the matching record (as ``stet.records`` gives it), or None.
        error: the matching failure record's error (``"ValueError: ..."``), or None.
        running: where a live claim runs it (``node7, pid 4121``), or None.
        nearest: when no record matches, the nearest records (at most 3, nearest first),
            each with ``.record`` and the columns where it differs (``.differences``,
            each with ``.column``, ``.stored``, ``.given`` and ``.text``).
        text: the explanation as lines of text.
    """

    __slots__ = (
        "call",
        "error",
        "function",
        "key",
        "nearest",
        "record",
        "running",
        "runs",
        "state",
        "store",
        "text",
    )

    def __init__(
        self,
        call: str,
        function: str | None,
        store: str,
        key: dict[str, str],
        state: State,
        runs: bool,
        record: dict[str, Any] | None,
        error: str | None,
        running: str | None,
        nearest: list[Near],
        text: str,
    ) -> None:
        self.call = call
        self.function = function
        self.store = store
        self.key = key
        self.state: State = state
        self.runs = runs
        self.record = record
        self.error = error
        self.running = running
        self.nearest = nearest
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def explain_call(runner: Runner, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Explanation:
    """Why the call ``f(*args, **kwargs)`` of a decorated function would run or skip."""
    plan, name, label = runner.plan, runner.name, runner.label
    values = plan.bind(args, kwargs)  # the errors of the call itself: a missing argument
    key = plan.key(values, name)  # a value stet cannot compare
    cells = plan.cells(values)
    call = plan.describe(name, values)
    spec = plan.key_spec(label)
    wanted = []
    for column, i, default_key, default_text in zip(
        spec.columns, plan.key_positions, spec.default_keys, spec.default_texts, strict=True
    ):
        value = plain_of(values[i])
        kind = kind_of(value)
        wanted.append(
            Wanted(
                column,
                key_of(value),
                display(values[i]),
                kind,
                number_of(value),
                default_key=default_key,
                default_shown=None if default_text is None else python_text(default_text),
            )
        )
    facts = _Facts(call, label, runner.store_name, {c: text_of_cell(cells[c]) for c in cells})
    snapshot = _snapshot(runner.store)
    if snapshot is None:
        holder = _first_holder(runner.store, label, [key]) if runner.options.claims else None
        if holder is not None:  # its first run, not recorded yet
            return facts.done(
                "running", _running_lines(holder, facts.store), running=holder.where()
            )
        return facts.done("not run", [f"no store at {facts.store}: nothing recorded yet"])
    owner = snapshot.owner
    if owner is None and FUNCTION_COLUMN not in snapshot.header:
        owner = label  # as the store takes unlabelled records for the first function's
    index = FunctionIndex(spec)
    add_records({label: index}, owner, snapshot.header, snapshot.columns)
    rows = rows_of(snapshot, label, owner)
    done_rows, failed_rows = split_failures(snapshot, rows)
    near, exact = nearest(snapshot, done_rows, wanted, "in this call", python_text, owner)
    if key in index.keys:
        record = record_of(snapshot, exact[-1]) if exact else None
        lines = [f"completed{_at(record)} in {facts.store}, so a call skips it"]
        lines += counted_by_default(snapshot, exact[-1] if exact else None, wanted)
        if record is not None and OUTPUT_COLUMN in record:
            lines.append(f"its outputs: {record[OUTPUT_COLUMN]}")
        return facts.done("completed", lines, record=record)
    failure = last_exact(snapshot, failed_rows, wanted)
    error = index.failed.get(key)
    skips_failure = runner.options.failures == "skip"
    if error is not None and skips_failure:
        lines = [
            f"failed{_at(failure)} in {facts.store} with {error}; a call skips it "
            f'(failures="skip"): {label}.reset(..., failed=True) lets it run again'
        ]
        return facts.done("failed", lines, record=failure, error=error)
    holder = _holder(runner.store, label, [key]) if runner.options.claims else None
    if holder is not None:
        return facts.done("running", _running_lines(holder, facts.store), running=holder.where())
    if error is not None:
        setting = (
            f'failures="{runner.options.failures}"'
            if runner.options.failures
            else "the default failures=None"
        )
        lines = [
            f"failed{_at(failure)} in {facts.store} with {error}; a call runs it again "
            f'({setting}; with failures="skip" it would skip it)'
        ]
        return facts.done("failed", lines, record=failure, error=error, runs=True)
    lines = [f"not run: no record in {facts.store} matches, so a call runs it"]
    if not rows:
        lines = [f"not run: {facts.store} holds no records of {label}, so a call runs it"]
    elif not done_rows:
        lines.append(f"{facts.store} holds only failure records of {label}")
    if not done_rows:
        said, renamed = renamed_from(snapshot, label, wanted)
        lines += said
        if renamed is not None:
            other, other_rows = renamed
            near, same = nearest(snapshot, other_rows, wanted, "in this call", python_text, owner)
            if same:  # the very run, under the other name
                near, line = [], f"line {snapshot.first_line + same[-1]:,}"
                lines.append(f"({line}{_at(record_of(snapshot, same[-1]))} is that run)")
            lines += near_lines(near, len(other_rows), f"of {other}", wanted)
            return facts.done("not run", lines, nearest=near)
    lines += near_lines(near, len(done_rows), f"of {label}", wanted)
    return facts.done("not run", lines, nearest=near)


def why(args: argparse.Namespace) -> int:
    """``stet why``: print the explanation; 0 when a completed run matches, else 1."""
    found = explain_values(args.store, args.where, args.function)
    sys.stdout.write(f"{found}\n")
    return 0 if found.state == "completed" else 1


def explain_values(
    store: str, where: Sequence[tuple[str, str]], function: str | None
) -> Explanation:
    """Why a run with these values (each as the store shows it) is or is not in a
    store, without the function's code (``stet why``)."""
    handle = get_store(store)
    call = ", ".join(f"{column}={text}" for column, text in where)
    wanted = []
    for column, text in where:
        value = value_of_cell(text)
        kind = kind_of(value)
        wanted.append(Wanted(column, key_of_cell(text), text, kind, number_of(value), text=text))
    facts = _Facts(call, function, handle.name, dict(where))
    snapshot = _snapshot(handle)
    if snapshot is None:
        holder = _first_holder(handle, function, _keys_in_orders([], where))
        if holder is not None:  # its first run, not recorded yet
            return facts.done(
                "running", _running_lines(holder, facts.store), running=holder.where()
            )
        return facts.done("not run", [f"no store at {facts.store}: nothing recorded yet"])
    rows = rows_of(snapshot, function, None)
    done_rows, failed_rows = split_failures(snapshot, rows)
    near, exact = nearest(snapshot, done_rows, wanted, "given", text_of_cell, None)
    of = f" of {function}" if function is not None else ""
    if exact:
        record = record_of(snapshot, exact[-1])
        lines = [f"completed{_at(record)} in {facts.store}{_by(snapshot, exact)}"]
        return facts.done("completed", lines, record=record, runs=False)
    failure = last_exact(snapshot, failed_rows, wanted)
    keys = _keys_in_orders(snapshot.header, where)
    holder = _holder(handle, function, keys)
    if holder is not None:
        return facts.done("running", _running_lines(holder, facts.store), running=holder.where())
    if failure is not None:
        error = str(failure.get(ERROR_COLUMN, ""))
        lines = [
            f"failed{_at(failure)} in {facts.store} with {error}; a call runs it again, "
            'unless its function has failures="skip"'
        ]
        return facts.done("failed", lines, record=failure, error=error, runs=True)
    lines = [f"not run: no record{of} in {facts.store} matches"]
    unknown = [c for c, _ in where if c not in snapshot.header]
    if unknown:
        columns = [c for c in snapshot.header if not c.startswith(RESERVED_PREFIX)]
        lines.append(
            f"{facts.store} has no column {', '.join(unknown)}; its columns: "
            f"{', '.join(columns) or '(none)'}"
        )
    if function is not None and not rows:
        lines.append(f"{facts.store} holds no records of {function}")
    lines += near_lines(near, len(done_rows), of.strip(), wanted)
    return facts.done("not run", lines, nearest=near)


class _Facts:
    """What every explanation of one call says."""

    __slots__ = ("call", "function", "key", "store")

    def __init__(self, call: str, function: str | None, store: str, key: dict[str, str]) -> None:
        self.call = call
        self.function = function
        self.store = store
        self.key = key

    def done(
        self,
        state: State,
        lines: list[str],
        *,
        record: dict[str, Any] | None = None,
        error: str | None = None,
        running: str | None = None,
        nearest: list[Near] | None = None,
        runs: bool | None = None,
    ) -> Explanation:
        head, *rest = lines
        key = ", ".join(f"{c}={t}" for c, t in self.key.items()) or "(no key columns)"
        text = "\n".join([f"{self.call}: {head}", f"  key: {key}", *(f"  {r}" for r in rest)])
        return Explanation(
            self.call,
            self.function,
            self.store,
            self.key,
            state,
            state == "not run" if runs is None else runs,
            record,
            error,
            running,
            nearest or [],
            text,
        )


def _snapshot(store: Store) -> Snapshot | None:
    """Every record of the store, read fresh; None when there is no store."""
    try:
        return store.snapshot()
    except FileNotFoundError as error:
        if facts_of(error) is None:
            raise
        return None


def _at(record: dict[str, Any] | None) -> str:
    stamp = None if record is None else record.get(TIMESTAMP_COLUMN)
    return f" at {stamp.isoformat()}" if isinstance(stamp, datetime) else ""


def _by(snapshot: Snapshot, rows: list[int]) -> str:
    """Whose runs match: `` (a run of simulate)``."""
    owner = snapshot.owner
    if FUNCTION_COLUMN in snapshot.header:
        labels = snapshot.columns[snapshot.header.index(FUNCTION_COLUMN)]
        names = sorted({str(labels[i]) or owner or "" for i in rows} - {""})
    else:
        names = [owner] if owner else []
    if not names:
        return ""
    if len(names) == 1:
        return f" (a run of {names[0]})"
    return f" (runs of {len(names)} functions: {', '.join(names)}; --function picks one)"


def _holder(store: Store, function: str | None, keys: Sequence[bytes]) -> Claim | None:
    """The live claim of another worker that holds a run with one of these keys."""
    claimed = [claim_key(k) for k in keys]
    for claim in store.claims.running(function):
        if any(claim.ident == run_ident(claim.function, k) for k in claimed):
            return claim
    return None


def _first_holder(store: Store, function: str | None, keys: Sequence[bytes]) -> Claim | None:
    """:func:`_holder` for a store that has no records yet: beside a file store only, as
    a server's book would make its tables to be read (explain creates nothing)."""
    return None if is_url(store.path) else _holder(store, function, keys)


def _running_lines(holder: Claim, store: str) -> list[str]:
    lines = [f"running now ({holder.where()}: its claim in {store} holds it), so a call skips it"]
    return [*lines, f"the claim: {holder.call}"] if holder.call else lines


def _keys_in_orders(header: Sequence[str], where: Sequence[tuple[str, str]]) -> list[bytes]:
    """The key of a run with these values, its columns in the store's order or as given
    (the order of a function's parameters is not known without its code)."""
    given = dict(where)
    stored = [c for c in header if c in given] + [c for c, _ in where if c not in header]
    orders = [stored, [c for c, _ in where]]
    return [b"".join(key_of_cell(given[c]) for c in order) for order in orders]
