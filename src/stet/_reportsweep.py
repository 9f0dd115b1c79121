"""The ``[stet] ...`` lines of a sweep (``stet.sweep``): its first line, its summary, and
what it says when a run fails, when it stops, and when it is interrupted.

The rest of stet's lines are in :mod:`stet._report`, whose ``plural`` and ``duration``
these use.
"""

from __future__ import annotations

from ._output import line
from ._report import duration, plural

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "executor_broke",
    "run_failed",
    "sweep_interrupted",
    "sweep_start",
    "sweep_stopping",
    "sweep_summary",
    "sweep_waiting",
]


def sweep_start(
    function: str, total: int, done_before: int, failed_before: int, pending: int
) -> None:
    """A sweep's first line: how far the grid is, and what it runs now."""
    failed = f", {failed_before:,} failed before (failures='skip')" if failed_before else ""
    if not pending and not failed:
        done = {0: "the grid is empty", 1: "its one run is done"}.get(
            total, f"all {total:,} runs are done"
        )
        line(f"Sweep of {function}: {done}; nothing to run")
        return
    progress = f"{done_before:,}/{total:,} done{failed}"
    if not pending:
        line(f"Sweep of {function}: {progress}; nothing to run")
        return
    line(f"Sweep of {function}: {progress}; running {pending:,}")


def sweep_summary(
    function: str,
    total: int,
    done_before: int,
    done: int,
    counts: Sequence[int],
    seconds: float,
) -> str:
    """``Sweep of f: 20/20 done (0 before); 20 ran, in 0.4 s``.

    ``counts``: ran, failed, running elsewhere, done elsewhere, failed before, not run.
    """
    ran, failed, running, elsewhere, failed_before, not_run = counts
    parts = [f"{ran:,} ran"]
    if failed:
        parts.append(f"{failed:,} failed")
    if running:
        parts.append(f"{running:,} running in other workers")
    if elsewhere:
        parts.append(f"{elsewhere:,} done by other workers")
    if failed_before:
        parts.append(f"{failed_before:,} skipped as failed before")
    if not_run:
        parts.append(f"{not_run:,} not started")
    return (
        f"Sweep of {function}: {done:,}/{total:,} done "
        f"({done_before:,} before); {', '.join(parts)}, in {duration(seconds)}"
    )


def run_failed(call: str, error: str) -> None:
    """A run of a sweep raised: ``calculation(alpha=0.1) failed: ValueError: ...``."""
    line(f"{call} failed: {error}")


def sweep_stopping(failed: int, max_failures: int) -> None:
    line(f"Stopping: {plural(failed, 'run')} failed (max_failures={max_failures})")


def sweep_waiting(batches: int) -> None:
    """Ctrl-C while batches run in an executor: the sweep waits for them."""
    line(
        "Interrupted: waiting for "
        f"{plural(batches, 'started batch', 'started batches')}"
        " to finish; "
        "press Ctrl-C again not to wait (their runs then finish, or are "
        "released, in the workers)"
    )


def executor_broke(error: str) -> None:
    line(
        f"The executor broke ({error}); stopping. Runs it did not finish "
        "are not recorded: rerun the sweep with a new executor to continue"
    )


def sweep_interrupted() -> None:
    line("Interrupted: rerun the sweep to continue where it stopped")
