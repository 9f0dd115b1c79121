"""The state behind one decorated function: its plan, store and index, and the decision,
for each call, whether it runs.

A call is bound and keyed (:meth:`Runner.before`); the store then decides
(:meth:`Runner.decide`): the run is done, running in another worker, failed before
(``failures="skip"``), or it runs, claimed: a :class:`Run`. A run that completes is
recorded (:meth:`Runner.after`); one that raises is released (:meth:`Runner.failed`).
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass

from . import _report
from ._columns import OUTPUT_COLUMN
from ._errors import StoreNotWritableError
from ._index import FunctionIndex, KeySpec
from ._outputpaths import output_path
from ._plan import is_coroutine_function, names_of
from ._registry import get_store
from ._results import result_cells, result_type_of, result_value
from ._store import Store
from .formats import is_url, redacted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    from ._claims import Claim
    from ._options import Options
    from ._outputs import Outputs, Staged
    from ._plan import CallPlan
    from ._provenance import Source
    from ._values import Cell

__all__ = [
    "DONE",
    "Decision",
    "Done",
    "FailedBefore",
    "Run",
    "Runner",
    "RunningElsewhere",
    "Skip",
    "error_text",
    "key_specs",
]


@dataclass(slots=True)
class Run:
    """A call that runs: its bound values, key, claim, key cells (taken before the body)
    and, with outputs, its staging directory."""

    values: tuple[Any, ...]
    key: bytes
    claim: Claim | None
    cells: dict[str, Cell]
    staged: Staged | None = None


@dataclass(slots=True)
class Skip:
    """A call that does not run: the key of its run (its stored result is kept by it)."""

    key: bytes


@dataclass(frozen=True, slots=True)
class Done:
    """The run is completed (by this process or another)."""


@dataclass(frozen=True, slots=True)
class RunningElsewhere:
    """Another worker holds the run's claim and runs it now."""

    claim: Claim


@dataclass(frozen=True, slots=True)
class FailedBefore:
    """A recorded failure of the run stands (``failures="skip"``)."""

    error: str


if TYPE_CHECKING:
    Decision: TypeAlias = Run | Done | RunningElsewhere | FailedBefore

DONE = Done()


_declared: dict[Store, dict[str, KeySpec]] = {}  # store -> function -> its key, latest


def key_specs(store: Store) -> list[KeySpec]:
    """The keys of the functions decorated in this process that use ``store`` (the
    latest definition of each)."""
    return list(_declared.get(store, {}).values())


class Runner:
    """The per-function state behind a wrapper: its plan, store and index."""

    def __init__(self, func: Callable[..., Any], plan: CallPlan, options: Options) -> None:
        self.function = func  # undecorated
        self.plan = plan
        self.options = options
        self.name, self.label = names_of(func, options.name)
        self.is_async = is_coroutine_function(func)
        self.store: Store = get_store(options.path, options.store)
        self.store_name = redacted(options.store)  # as this function's store was given
        self._index: FunctionIndex | None = None
        _declared.setdefault(self.store, {})[self.label] = plan.key_spec(self.label)
        self._unannounced = True  # the note on runs of another file or code: not yet
        self._other_keys: set[bytes] | None = None  # done runs of other versions
        self._other_entries: list[dict[str, str]] = []
        self.outputs: Outputs | None = None
        if options.outputs is not None:
            from ._outputs import Outputs

            self.outputs = Outputs(
                options.outputs,
                self.label,
                self.store.path,
                redacted(self.store.path),
                options.fsync,
            )

    def __getstate__(self) -> dict[str, Any]:
        # another process reads its own index (and says its own notes)
        return {**self.__dict__, "_index": None, "_other_keys": None}

    @property
    def index(self) -> FunctionIndex:
        index = self._index
        if index is None:
            spec = self.plan.key_spec(self.label, self.options.results)
            index = self._index = self.store.index_for(spec)
        return index

    @functools.cached_property
    def source(self) -> Source:
        """This version of the function: its code's fingerprint, file and module."""
        from ._provenance import code_of, source_of

        path = self.store.path  # resolved through symbolic links: one name per store
        store_dir = None if is_url(path) else os.path.dirname(path)
        return source_of(self.function, code_of(self.function), store_dir)

    def announce(self, key: bytes | None) -> None:
        """Before a skip: say once when the run to skip (``key``; None: any done run, for
        a sweep) was recorded by another file or by other code of this function.

        The first skip reads the function's code history; only when other versions
        recorded runs is the store read to find their keys, once. Nothing is said on a
        first run, nor on a skip of a run this version recorded.
        """
        if not self._unannounced:
            return
        other = self._other_keys
        if other is None:
            other = self._other_keys = self._keys_of_other_versions()
            if not other:
                self._unannounced = False
                return
        if key is not None and key not in other:
            return
        self._unannounced = False
        self._other_keys = None
        _announced.add((self.store.path, self.label, self.source.code, self.source.file))
        source, entries = self.source, self._other_entries
        runs = len(other)
        files = [e.get("file") for e in entries if not source.same_file(e)]
        if files:
            code_differs = any(e.get("code") != source.code for e in entries)
            _report.recorded_elsewhere(
                self.name, runs, self.store_name, files, source.file, code_differs
            )
        else:
            _report.code_changed(self.name, runs)

    def _keys_of_other_versions(self) -> set[bytes]:
        """The keys of the done runs other versions of this function recorded."""
        source = self.source
        if (self.store.path, self.label, source.code, source.file) in _announced:
            return set()
        history = self.store.history().get(self.label)
        if not history or all(source.matches(entry) for entry in history):
            return set()
        from ._snapshot import version_keys

        per_version = version_keys(self.store.snapshot(), self.index.spec, history)[1:]
        keys: set[bytes] = set()
        self._other_entries = []
        for entry, found in zip(history, per_version, strict=True):
            if found and not source.matches(entry):
                keys |= found
                self._other_entries.append(entry)
        return keys

    @functools.cached_property
    def result_type(self) -> type | None:
        """The dataclass or named tuple class a stored result is rebuilt as, if any."""
        return result_type_of(self.function)

    def before(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Run | Skip:
        """A call that must run (its values, key and claim), or the run to skip."""
        plan = self.plan
        values = plan.bind(args, kwargs)
        key = plan.key(values, self.name)
        index = self._index or self.index
        self.store.look()  # a rewrite by another process is seen within LOOK_EVERY
        if key in index.keys:  # the common skip
            if self._unannounced:
                self.announce(key)
            self._skipped(values, DONE)
            return Skip(key)
        decision = self.decide(values, key)
        if isinstance(decision, Run):
            _report.end_streak()
            return decision
        if isinstance(decision, Done) and self._unannounced:
            self.announce(key)
        self._skipped(values, decision)
        return Skip(key)

    def decide(self, values: tuple[Any, ...], key: bytes) -> Decision:
        """Whether a bound call runs: a :class:`Run` to pass to :meth:`after`, or why
        not (:class:`Done`, :class:`RunningElsewhere`, :class:`FailedBefore`), silently.
        """
        index = self._index or self.index
        if key in index.keys:
            return DONE
        self.store.refresh()  # another process may have completed it meanwhile
        if key in index.keys:
            return DONE
        self.store.check_columns(index.spec)  # what the record needs, known before the run
        cells = self.plan.cells(values)  # now: the body may change a list or array in place
        options = self.options
        if options.failures == "skip" and key in index.failed:
            return FailedBefore(index.failed[key])
        self.check_writable()
        claim = None
        if options.claims:
            call = functools.partial(self.plan.describe, self.name, values)  # made if needed
            claim, holder = self.store.claim(index, key, call, options.lease, options.heartbeat)
            if claim is None:  # held by another worker, or completed meanwhile
                return DONE if holder is None else RunningElsewhere(holder)
        run = Run(values, key, claim, cells)
        if self.outputs is not None:
            try:
                run.staged = self.outputs.begin(self.label, cells, key)
            except BaseException:
                if claim is not None:
                    with contextlib.suppress(Exception):  # begin's error is what propagates
                        self.store.claims.release(claim)
                raise
        return run

    def check_writable(self) -> None:
        """Refuse a call before it runs when its record could not be written."""
        outputs = self.outputs
        if outputs is not None:
            trouble = outputs.write_problem()
            if trouble is not None:
                raise outputs.refuse(self.label, trouble)
        problem = self.store.write_problem()
        if problem is not None:
            raise StoreNotWritableError(
                f"{self.label}() did not run: stet could not record it in "
                f"{self.options.store}, as {problem}. Give a store this user can write "
                f'(@stet.once(store="...")), or ask for write access; reading this store '
                "(stet.status, stet.records, stet.load) works as it is."
            )

    def _skipped(
        self, values: tuple[Any, ...], why: Done | RunningElsewhere | FailedBefore
    ) -> None:
        if self.options.verbose:
            call = self.plan.describe(self.name, values)
            running = why.claim.where() if isinstance(why, RunningElsewhere) else None
            failed = why.error if isinstance(why, FailedBefore) else None
            _report.skipped(self.label, self.name, call, self.options.skip_lines, running, failed)

    def stored_result(self, key: bytes) -> Any:
        """The stored result of a skipped run (None: running elsewhere, or none kept)."""
        cells = self.index.result_cells(key)
        if cells is None:
            return None
        output = cells.pop(OUTPUT_COLUMN, "")
        if not cells:
            return None
        run_dir = output_path(self.store.path, output) if output != "" else None
        return result_value(cells, self.result_type, run_dir, self.options.pickle)

    def after(self, run: Run, result: Any = None) -> None:
        """Record a call that completed (and release its claim).

        With ``results=True`` its result goes in the record; a result stet cannot keep
        faithfully raises ``TypeError`` and records nothing.
        """
        cells = run.cells
        if self.options.results:
            try:
                files = None if run.staged is None else run.staged.staging
                kept = result_cells(  # files: fsynced with the whole directory (commit)
                    result, self.name, self.result_type, files, self.options.pickle
                )
                cells = {**cells, **kept}
            except BaseException:  # refused (TypeError), or a file not written
                self.failed(run)
                raise
        store, fsync = self.store, self.options.fsync
        staged = run.staged
        if staged is None:
            store.record(self.index, run.key, cells, fsync, run.claim, source=self.source)
            return
        cells = {**cells, OUTPUT_COLUMN: staged.cell}
        self._put_in_place(run, staged)
        try:
            source = self.source
            store.record(self.index, run.key, cells, fsync, run.claim, source=source)
        except BaseException:
            self._set_aside_placed(staged, "interrupted")  # no record vouches for it
            raise
        # not recorded: another worker recorded the run first (its lease lapsed while it
        # stalled). Its record names this same path, which our rename could take only
        # because its directory was not there (set aside when this run began): ours,
        # whole, stays in place for that record.

    def _put_in_place(self, run: Run, staged: Staged) -> None:
        """Rename a run's staging directory into place, before its record."""
        outputs = self.outputs
        assert outputs is not None
        try:
            if outputs.commit(staged):
                return
            # a directory is in place already: another worker's (its lease lapsed while
            # it ran), or one no record vouches for (set aside when this run began)
            self.store.refresh()
            if run.key in self.index.keys:
                outputs.set_aside(staged.directory, "duplicate", staged.inside)
                return
            outputs.set_aside(staged.final, "interrupted", staged.inside)
            if not outputs.commit(staged):
                raise FileExistsError(
                    f"stet could not put the outputs of {self.label}() in place at "
                    f"{staged.final}: a directory appeared there twice while it ran"
                )
        except BaseException:
            self.failed(run)
            raise

    def _set_aside_placed(self, staged: Staged, reason: str) -> None:
        outputs = self.outputs
        assert outputs is not None
        with contextlib.suppress(OSError):
            outputs.set_aside(staged.final, reason, staged.inside)

    def failed(self, run: Run, error: BaseException | None = None) -> None:
        """A call raised: record its failure (``failures=...``, for an ``Exception``),
        and release its claim, so another worker may try the run."""
        claim = run.claim
        recorded = self.options.failures is not None and isinstance(error, Exception)
        cells = self._failed_outputs(run, recorded)
        if recorded and error is not None:
            text = error_text(error)
            try:
                store, fsync = self.store, self.options.fsync
                store.record(self.index, run.key, cells, fsync, claim, text, source=self.source)
                return
            except Exception as problem:  # the call's own exception is what propagates
                call = self.plan.describe(self.name, run.values)
                _report.failure_not_recorded(call, error_text(problem))
                if claim is not None:
                    with contextlib.suppress(Exception):
                        self.store.claims.release(claim)
                return
        if claim is not None:
            self.store.claims.release(claim)

    def _failed_outputs(self, run: Run, kept: bool) -> dict[str, Cell]:
        """A run that raised: its staging directory is moved aside to be named in its
        failure record (``kept``), or removed; the record's cells."""
        staged, outputs = run.staged, self.outputs
        if staged is None or outputs is None or not os.path.exists(staged.directory):
            return run.cells
        if not kept:
            outputs.discard(staged)
            return run.cells
        try:
            aside = outputs.set_aside(staged.directory, "failed", staged.inside)
        except OSError:
            outputs.discard(staged)
            return run.cells
        return {**run.cells, OUTPUT_COLUMN: outputs.failure_cell(self.store.path, aside)}


_announced: set[tuple[str, str, str, str | None]] = set()  # (store, function, code, file)


_ERROR_TEXT_LIMIT = 1000


def error_text(error: BaseException) -> str:
    """``ValueError: bad combo``: an exception as one recorded or printed text."""
    name = type(error).__name__
    try:
        message = str(error)
    except Exception:  # its own text fails: the call's exception must still propagate
        message = f"<{name} object whose text failed>"
    text = f"{name}: {message}" if message else name
    if len(text) > _ERROR_TEXT_LIMIT:
        text = text[: _ERROR_TEXT_LIMIT - 3] + "..."
    return text
