"""A sweep's runs in a worker, and what became of them.

In each worker the decorated function's own :class:`~stet._runner.Runner` decides,
claims and records, exactly as a call of the function would; :func:`run_one` turns its
decision into an :class:`Outcome`, which travels back to the sweep to be counted in its
:class:`SweepSummary`.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

from . import _reportsweep
from ._outputs import enter, leave
from ._runner import Done, FailedBefore, RunningElsewhere, error_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ._runner import Runner

__all__ = ["Failure", "Fate", "Outcome", "SweepSummary", "run_batch", "run_one", "runner_of"]


class Fate(enum.Enum):
    """What became of one run in a worker."""

    RAN = "ran"
    FAILED = "failed"
    DONE_ELSEWHERE = "done"
    RUNNING_ELSEWHERE = "running"
    FAILED_BEFORE = "failed before"  # skipped: its recorded failure stands (failures="skip")
    NOT_RUN = "-"


@dataclass(frozen=True)
class RunError:
    """How a run that raised reads: its call, ``Type: message`` and traceback."""

    call: str
    error: str
    traceback: str


@dataclass(frozen=True)
class Outcome:
    """A run's fate, how long its body took, and for a failure, its error."""

    fate: Fate
    seconds: float = 0.0
    error: RunError | None = None


@dataclass
class Failure:
    """A run that raised.

    Attributes:
        call: how the call reads: ``calculation(alpha=0.1, seed=3)``.
        parameters: the combination's parameter values, as the grid gave them.
        error: the exception's type and message: ``ValueError: alpha must be positive``.
        traceback: the exception's traceback as text, from the run's own frame on (for
            a run in another process, as that process formatted it).
    """

    call: str  # calculation(alpha=0.1, seed=3)
    parameters: dict[str, Any]
    error: str  # ValueError: alpha must be positive
    traceback: str

    def __str__(self) -> str:
        return f"{self.call} failed: {self.error}"


@dataclass
class SweepSummary:
    """What a sweep did. ``total`` counts distinct runs; the other counts add up to it.

    Attributes:
        function: the function swept (its qualified name).
        total: distinct runs in the grid.
        done_before: runs completed before the sweep started.
        ran: runs this sweep ran and recorded.
        failed: runs that raised (see ``failures``).
        running_elsewhere: runs skipped because another worker was running them.
        done_elsewhere: runs another worker completed while the sweep ran.
        failed_before: runs skipped because a failure of theirs is recorded and the
            function has ``failures="skip"``.
        not_run: runs not started (interrupted, or stopped after ``max_failures``), or
            not finished by an executor that broke.
        seconds: the sweep's wall time.
        failures: one :class:`Failure` per run that raised, with its traceback.
        interrupted: stopped by Ctrl-C (``KeyboardInterrupt``) before every run ended.
        stopped: stopped after ``max_failures`` failures, or by a broken executor.
    """

    function: str
    total: int = 0
    done_before: int = 0  # completed before the sweep started
    ran: int = 0  # run and recorded by this sweep
    failed: int = 0  # raised (see ``failures``)
    running_elsewhere: int = 0  # skipped: another worker was running them
    done_elsewhere: int = 0  # skipped: another worker completed them meanwhile
    failed_before: int = 0  # skipped: failed before, and failures="skip"
    not_run: int = 0  # not started, or lost with a broken executor
    seconds: float = 0.0  # wall time
    failures: list[Failure] = field(default_factory=list)
    interrupted: bool = False  # stopped by Ctrl-C (KeyboardInterrupt)
    stopped: bool = False  # stopped after max_failures failures

    @property
    def done(self) -> int:
        """Runs of the grid that are completed now."""
        return self.done_before + self.ran + self.done_elsewhere

    def __str__(self) -> str:
        counts = (
            self.ran,
            self.failed,
            self.running_elsewhere,
            self.done_elsewhere,
            self.failed_before,
            self.not_run,
        )
        return _reportsweep.sweep_summary(
            self.function, self.total, self.done_before, self.done, counts, self.seconds
        )


def runner_of(func: object, owner: str) -> Runner:
    runner: Runner | None = getattr(func, "_stet_runner", None)
    if runner is None:
        raise TypeError(
            f"{owner}: {func!r} is not a @stet.once function; decorate it with @stet.once "
            "(the sweep records through it)"
        )
    return runner


def run_batch(func: Callable[..., Any], batch: list[dict[str, Any]]) -> list[Outcome]:
    """In a worker: run a batch of runs of a ``@stet.once`` function, one after another."""
    runner = runner_of(func, "stet.sweep")
    if runner.outputs is not None:
        runner.outputs.check_reachable(runner.label)
    _calls_only_take_ctrl_c()
    return [run_one(runner, kwargs) for kwargs in batch]


_in_call = False  # the main thread of this worker runs a swept function's body now


def _calls_only_take_ctrl_c() -> None:
    """In a worker process's main thread (a process pool's): Ctrl-C interrupts the run
    that runs, and nothing else.

    A terminal's Ctrl-C reaches the pool's workers too. Raised while stet records or
    releases a run, or while the pool's own code holds its result queue's lock, it would
    leave a claim or that lock held for good (the pool then hangs); so outside a run's
    body the worker ignores it: the sweep's own process got the same Ctrl-C and stops.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return  # threads of a Dask worker, say: signals are the main thread's business
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt_calls_only)


def _interrupt_calls_only(signum: int, frame: object) -> None:
    if _in_call:
        raise KeyboardInterrupt


def run_one(runner: Runner, kwargs: dict[str, Any]) -> Outcome:
    """Run one combination unless it is done or running elsewhere; what became of it."""
    global _in_call
    plan = runner.plan
    values = plan.bind((), kwargs)
    decision = runner.decide(values, plan.key(values, runner.name))
    if isinstance(decision, Done):
        return Outcome(Fate.DONE_ELSEWHERE)
    if isinstance(decision, RunningElsewhere):
        return Outcome(Fate.RUNNING_ELSEWHERE)
    if isinstance(decision, FailedBefore):
        return Outcome(Fate.FAILED_BEFORE)
    start = time.perf_counter()
    token = enter(decision.staged)
    try:
        _in_call = True
        try:
            result = runner.function(**kwargs)
        finally:
            _in_call = False
            leave(token)
    except Exception as error:
        seconds = time.perf_counter() - start
        runner.failed(decision, error)
        return Outcome(Fate.FAILED, seconds, _run_error(runner, values, error))
    except BaseException as error:
        runner.failed(decision, error)
        raise
    seconds = time.perf_counter() - start
    try:
        runner.after(decision, result)
    except TypeError as error:  # a result stet cannot keep: nothing was recorded
        return Outcome(Fate.FAILED, seconds, _run_error(runner, values, error))
    return Outcome(Fate.RAN, seconds)


def _run_error(runner: Runner, values: tuple[Any, ...], error: BaseException) -> RunError:
    call = runner.plan.describe(runner.name, values)
    return RunError(call, error_text(error), _traceback_of(error))


def _traceback_of(error: BaseException) -> str:
    """The traceback of a run's exception, from the run's own frame on."""
    import traceback

    tb = error.__traceback__
    inner = tb.tb_next if tb is not None and tb.tb_next is not None else tb
    return "".join(traceback.format_exception(type(error), error, inner))
