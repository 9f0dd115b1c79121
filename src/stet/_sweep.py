"""``stet.sweep``: run every combination of a grid that is not done yet, on any executor.

The sweep reads the store once, leaves out every run that is done, and hands the rest
to the executor in batches (one run per batch at first; then as many as take about a
tenth of a second, so that trivial runs do not pay an executor's cost each). In each
worker the decorated function's own machinery decides, claims and records, exactly as a
call of the function would: the sweep adds bookkeeping, not another way to record.
"""

from __future__ import annotations

import contextlib
import sys
import time
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, wait

from . import _report, _reportsweep
from ._admin import note_failures
from ._batch import Failure, Fate, Outcome, RunError, SweepSummary, run_batch, run_one, runner_of
from ._runner import error_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, Literal

    from ._grid import Grid, Pair
    from ._runner import Runner

__all__ = ["Failure", "SweepSummary", "sweep"]

BATCH_SECONDS = 0.1  # a batch of quick runs takes about this long in its worker
MAX_BATCH = 1000
# Batches handed to an executor at once: twice what it runs at once (asked again every
# few seconds, as a cluster's workers come and go), and at least enough that an adaptive
# cluster sees work waiting and grows
MIN_WINDOW = 16
CAPACITY_EVERY = 5.0

# What became of one run in a worker


def sweep(
    func: Callable[..., Any],
    grid: Mapping[str, Iterable[Any]] | Iterable[Mapping[str, Any]],
    *,
    executor: Executor | None = None,
    progress: bool | Literal["always"] = True,
    max_failures: int | None = None,
) -> SweepSummary:
    """Run every combination of ``grid`` that is not done yet; return what happened.

    Args:
        func: a ``@stet.once`` function.
        grid: a dict of axes, ``{"alpha": [0.1, 0.2], "seed": range(20)}`` (every
            combination, the first axis varying slowest), or an iterable of dicts of
            parameter values (explicit combinations). A run the grid gives twice runs once.
        executor: where the runs run: ``None`` runs them in this process, one after
            another; any ``concurrent.futures.Executor`` (a ``ProcessPoolExecutor``,
            loky's, a Dask ``Client.get_executor()``, an MPI or SLURM executor) runs
            them in its workers, which record into the same store.
        progress: a progress bar over the whole grid, starting at the runs already
            done: ``True`` shows it on a terminal or in a notebook, ``"always"`` also
            elsewhere (on standard error), ``False`` never.
        max_failures: stop starting runs once this many have failed (default: never
            stop; every failure is counted and its traceback kept).

    Runs that are done are never submitted. Ctrl-C stops the sweep: no further run
    starts, runs waiting in the executor are cancelled, and runs that already started
    finish (press Ctrl-C again not to wait for them); the store stays consistent and a
    rerun continues where this one stopped. The ``KeyboardInterrupt`` is raised again
    once the summary is printed.
    """
    owner = "stet.sweep"
    runner = runner_of(func, owner)
    owner = f"stet.sweep({runner.label})"
    if max_failures is not None and (
        isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 1
    ):
        raise ValueError(f"{owner}: max_failures must be a whole number >= 1 or None")
    if progress not in (True, False, "always"):
        raise ValueError(f"{owner}: progress must be True, False or 'always', not {progress!r}")
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(
            f"{owner}: executor must be a concurrent.futures.Executor (for Dask: "
            f"client.get_executor()), not {executor!r}"
        )
    if runner.is_async:
        raise TypeError(f"{owner}: async functions cannot be swept yet; sweep a plain function")
    started = time.perf_counter()
    combinations = runner.plan.grid(grid, owner, runner.label)  # checked before any reading
    _report.end_streak()
    index = runner.index
    runner.store.refresh()
    total, pending = combinations.scan(index.keys)
    summary = SweepSummary(runner.label, total=total, done_before=total - len(pending))
    if summary.done_before:
        runner.announce(None)  # runs of another file or older code are among those done
    if runner.options.failures == "skip" and index.failed:  # their failures stand
        failed = index.failed
        kept = [pair for pair in pending if pair[1] not in failed]
        summary.failed_before = len(pending) - len(kept)
        pending = kept
    if pending:
        runner.check_writable()  # before the first run, not at its record
        if runner.outputs is not None:  # here: a worker that does not see it is told so
            runner.outputs.make_root(runner.label)
    run = _Sweep(func, runner, summary, combinations, pending, progress, max_failures)
    try:
        run.start()
        if executor is None:
            run.in_process()
        else:
            with _Interrupts() as interrupts:
                run.on(executor, interrupts)
    finally:
        run.finish(started)
    if summary.ran:
        runner.store.settle()  # deferred work done: a Parquet store's parts hold every run
    return summary


class _Sweep:
    """One sweep in progress: the runs left, the counts, the bar."""

    def __init__(
        self,
        func: Callable[..., Any],
        runner: Runner,
        summary: SweepSummary,
        grid: Grid,
        pending: list[Pair],
        progress: bool | str,
        max_failures: int | None,
    ) -> None:
        self.func = func  # travels to workers (by reference or by value), its runner with it
        self.runner = runner
        self.summary = summary
        self.grid = grid
        self.pending = pending
        self.next = 0  # pending[next:] are not submitted yet
        self.progress = progress
        self.max_failures = max_failures
        self.bar: Any = None
        self.run_seconds = 0.0  # summed durations of the runs that ran here
        self.runs_timed = 0

    @property
    def stopping(self) -> bool:
        summary = self.summary
        return summary.interrupted or summary.stopped

    def start(self) -> None:
        summary = self.summary
        pending = len(self.pending)
        total, before, failed = summary.total, summary.done_before, summary.failed_before
        _reportsweep.sweep_start(summary.function, total, before, failed, pending)
        if not pending:
            return
        self.bar = _bar(self.progress, summary)
        if self.bar is not None:
            _report.route_through(self.bar.write)

    def in_process(self) -> None:
        try:
            for position, (values, _) in enumerate(self.pending):
                if self.stopping:
                    break
                self.next = position + 1
                kwargs = self.grid.kwargs(values)
                self._take([run_one(self.runner, kwargs)], [kwargs])
        except KeyboardInterrupt:
            self.summary.interrupted = True
            raise

    def on(self, executor: Executor, interrupts: _Interrupts) -> None:
        window, sized = MIN_WINDOW, -CAPACITY_EVERY
        in_flight: dict[Future[list[Outcome]], list[dict[str, Any]]] = {}
        waiting_twice = False
        try:
            while True:
                try:
                    interrupts.check()
                    if time.monotonic() - sized >= CAPACITY_EVERY:  # clusters grow and shrink
                        window = max(2 * _capacity(executor), MIN_WINDOW)
                        sized = time.monotonic()
                    while not self.stopping and len(in_flight) < window and self._left():
                        batch = self._batch(window)
                        in_flight[executor.submit(run_batch, self.func, batch)] = batch
                    if not in_flight:
                        break
                    finished, _ = wait(in_flight, interrupts.poll, FIRST_COMPLETED)
                    for future in finished:
                        batch = in_flight.pop(future)
                        self._settle(future, batch)
                except BrokenExecutor as error:
                    self._lost(in_flight, error)
                    break
                except KeyboardInterrupt:
                    if waiting_twice or not in_flight:
                        raise
                    waiting_twice = True
                    self.summary.interrupted = True
                    for future in list(in_flight):
                        if future.cancel():
                            in_flight.pop(future)
                    if in_flight:
                        _reportsweep.sweep_waiting(len(in_flight))
            interrupts.check()  # a Ctrl-C as the last batch came back
        except KeyboardInterrupt:
            self.summary.interrupted = True
            raise
        if self.summary.interrupted:  # the started runs finished: now stop as Ctrl-C does
            raise KeyboardInterrupt

    def _left(self) -> bool:
        return self.next < len(self.pending)

    def _batch(self, window: int) -> list[dict[str, Any]]:
        """The next runs to submit together: more of them the quicker runs are."""
        left = len(self.pending) - self.next
        size = 1
        if self.runs_timed:
            mean = self.run_seconds / self.runs_timed
            size = min(MAX_BATCH, max(1, int(BATCH_SECONDS / max(mean, 1e-7))))
            size = min(size, max(1, left // (2 * window)))  # keep every worker busy
        kwargs = self.grid.kwargs
        batch = [kwargs(values) for values, _ in self.pending[self.next : self.next + size]]
        self.next += len(batch)
        return batch

    def _settle(self, future: Future[list[Outcome]], batch: list[dict[str, Any]]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            self._take(future.result(), batch)
            return
        if isinstance(error, KeyboardInterrupt):  # Ctrl-C reached the worker too
            self.summary.interrupted = True
        if isinstance(error, BrokenExecutor):
            raise error
        self._take(self._outcomes_after(error, batch), batch)

    def _outcomes_after(self, error: BaseException, batch: list[dict[str, Any]]) -> list[Outcome]:
        """A batch whose task failed as a whole (a lost worker): what the store says."""
        import traceback

        runner = self.runner
        runner.store.refresh()
        keys = runner.index.keys
        plan = runner.plan
        text = error_text(error)
        trace = "".join(traceback.format_exception(error))
        outcomes: list[Outcome] = []
        for kwargs in batch:
            values = plan.bind((), kwargs)
            if plan.key(values, runner.name) in keys:
                outcomes.append(Outcome(Fate.RAN))
            elif isinstance(error, KeyboardInterrupt | BrokenExecutor):
                outcomes.append(Outcome(Fate.NOT_RUN))  # which of them started is unknown
            else:
                failure = RunError(plan.describe(runner.name, values), text, trace)
                outcomes.append(Outcome(Fate.FAILED, 0.0, failure))
        return outcomes

    def _lost(
        self, in_flight: dict[Future[list[Outcome]], list[dict[str, Any]]], error: BaseException
    ) -> None:
        """The executor broke (a pool whose worker died): count what the store holds."""
        for batch in in_flight.values():
            self._take(self._outcomes_after(error, batch), batch)
        in_flight.clear()
        _reportsweep.executor_broke(error_text(error))
        self.summary.stopped = True

    def _take(self, outcomes: list[Outcome], batch: list[dict[str, Any]]) -> None:
        """Count what became of a batch's runs."""
        summary = self.summary
        advanced = 0  # runs completed: the bar counts what the closing line calls done
        for outcome, kwargs in zip(outcomes, batch, strict=True):
            fate = outcome.fate
            if fate is Fate.RAN:
                summary.ran += 1
                advanced += 1
                self.run_seconds += outcome.seconds
                self.runs_timed += 1
            elif fate is Fate.FAILED:
                failure = outcome.error
                assert failure is not None
                summary.failed += 1
                self.run_seconds += outcome.seconds
                self.runs_timed += 1
                summary.failures.append(
                    Failure(failure.call, dict(kwargs), failure.error, failure.traceback)
                )
                _reportsweep.run_failed(failure.call, failure.error)
                if self.max_failures is not None and summary.failed >= self.max_failures:
                    if not summary.stopped:
                        _reportsweep.sweep_stopping(summary.failed, self.max_failures)
                    summary.stopped = True
            elif fate is Fate.DONE_ELSEWHERE:
                summary.done_elsewhere += 1
                advanced += 1
            elif fate is Fate.RUNNING_ELSEWHERE:
                summary.running_elsewhere += 1
            elif fate is Fate.FAILED_BEFORE:
                summary.failed_before += 1
        bar = self.bar
        if bar is not None:
            others = []
            if summary.failed:
                others.append(f"{summary.failed:,} failed")
            if summary.failed_before:
                others.append(f"{summary.failed_before:,} failed before")
            if summary.running_elsewhere:
                others.append(f"{summary.running_elsewhere:,} elsewhere")
            if others:
                bar.set_postfix_str(", ".join(others), refresh=not advanced)
            if advanced:
                bar.update(advanced)

    def finish(self, started: float) -> None:
        summary = self.summary
        counted = (
            summary.done_before
            + summary.ran
            + summary.failed
            + summary.running_elsewhere
            + summary.done_elsewhere
            + summary.failed_before
        )
        summary.not_run = summary.total - counted
        summary.seconds = time.perf_counter() - started
        if self.bar is not None:
            self.bar.close()
            _report.route_through(None)
            _flush(sys.stderr)  # the closed bar before the closing line (a kernel buffers it)
        note_failures(summary.function, summary.failed)
        if summary.interrupted and not summary.not_run:
            summary.interrupted = False  # a Ctrl-C came once every run had ended: it stopped
            # nothing (the KeyboardInterrupt still stops the program)
        if self.pending:
            _report.line(str(summary))
            if summary.interrupted:
                _reportsweep.sweep_interrupted()


class _Interrupts:
    """Ctrl-C while a sweep waits for its executor: counted at once, raised at safe points.

    A ``KeyboardInterrupt`` raised at any instant may land between taking a finished batch
    and counting it, or inside ``concurrent.futures.wait`` while it holds futures' locks
    (which then never complete). So, in the main thread, SIGINT only counts; the sweep
    raises ``KeyboardInterrupt`` itself between batches, polling every ``poll`` seconds.
    """

    def __init__(self) -> None:
        self.pressed = 0
        self.raised = 0
        self.poll = 1.0
        self.previous: Any = None

    def __enter__(self) -> _Interrupts:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread() and (
            signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self.previous = signal.signal(signal.SIGINT, self._count)
            self.poll = 0.1
        return self

    def _count(self, signum: int, frame: object) -> None:
        self.pressed += 1

    def check(self) -> None:
        if self.raised < self.pressed:
            self.raised += 1
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            import signal

            signal.signal(signal.SIGINT, self.previous)


def _capacity(executor: Executor) -> int:
    """How many runs an executor runs at once, as far as it tells."""
    workers = getattr(executor, "_max_workers", None)  # process and thread pools, loky
    if isinstance(workers, int) and workers > 0:
        return workers
    client = getattr(executor, "_client", None)  # a Dask ClientExecutor
    if client is not None:
        try:
            return max(1, int(sum(client.nthreads().values())))
        except Exception:
            pass
    import os

    return os.cpu_count() or 1


def _bar(progress: bool | str, summary: SweepSummary) -> Any:
    if progress is False or (progress is True and not _interactive()):
        return None
    if (progress == "always" and not _interactive()) or (_in_notebook() and not _widgets()):
        from tqdm import tqdm  # text (in a notebook without ipywidgets, tqdm.auto warns)
    else:
        from tqdm.auto import tqdm
    return tqdm(
        total=summary.total,
        initial=summary.done_before,
        postfix=f"{summary.failed_before:,} failed before" if summary.failed_before else None,
        desc=summary.function,
        unit="run",
        dynamic_ncols=True,
    )


def _interactive() -> bool:
    """Standard error is a terminal, or this runs in a Jupyter kernel."""
    stderr = sys.stderr
    if stderr is not None and hasattr(stderr, "isatty") and stderr.isatty():
        return True
    return _in_notebook()


def _flush(stream: Any) -> None:
    with contextlib.suppress(Exception):  # closed, or not a file at all
        stream.flush()


def _widgets() -> bool:
    """ipywidgets, which tqdm's notebook bar needs, can be imported."""
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None


def _in_notebook() -> bool:
    """This runs in a Jupyter kernel."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"
