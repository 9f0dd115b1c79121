"""Decorated functions and drivers for test_sweep.py, importable by fresh interpreters.

The tests put ``tests/`` on ``PYTHONPATH`` (``probes.environment``) and start a driver
with ``python -c "from probes import sweeps; sweeps.<driver>(...)"``. A function is
known to the store by its qualified name, so ``gated(store)`` names the same function,
``gated.<locals>.work``, in the test's process and in a driver's.

Each execution of a body that is given a ``log`` appends one line ``<pid> <argument>`` to
it with its own ``write``, so a test can count executions across processes.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Literal

import stet
from probes import note
from stet import SweepSummary

if TYPE_CHECKING:
    from stet._once import OnceFunction

HELD = 7  # the seed whose run ``hold`` keeps running until its gate opens


def gated(store: str, gate: str | None = None) -> OnceFunction[..., float]:
    """``work(alpha, seed, scale=1.0)``; with a ``gate``, its run of seed ``HELD`` writes
    ``<gate>.in`` and then waits until the file ``gate`` exists."""

    @stet.once(store=store, verbose=False)
    def work(alpha: float, seed: int, scale: float = 1.0) -> float:
        if gate is not None and seed == HELD:
            with open(gate + ".in", "w"):
                pass
            while not os.path.exists(gate):
                time.sleep(0.01)
        return alpha * seed * scale

    return work


def hold(store: str, gate: str, done: int) -> None:
    """Complete seeds ``0 .. done-1`` (alpha 0.5), then hold seed ``HELD`` until ``gate``."""
    work = gated(store, gate)
    for seed in range(done):
        work(0.5, seed)
    work(0.5, HELD)


def paced(store: str, log: str, seconds: float, refused: int | None) -> OnceFunction[[int], int]:
    """``work(i)``: notes its execution in ``log``, takes ``seconds``, and raises
    ``ValueError`` for ``i == refused``."""

    @stet.once(store=store, verbose=False)
    def work(i: int) -> int:
        note(log, f"{os.getpid()} {i}")
        time.sleep(seconds)
        if i == refused:
            raise ValueError(f"{i} is refused")
        return i

    return work


def _progress(text: str) -> bool | Literal["always"]:
    if text == "always":
        return "always"
    return {"True": True, "False": False}[text]


def bar_sweep(store: str, log: str, progress: str, done_first: int, count: int) -> None:
    """Complete ``done_first`` runs by plain calls, then sweep ``range(count)`` with
    ``progress``; run 6 fails. Prints the summary's counts last."""
    work = paced(store, log, 0.02, refused=6)
    for i in range(done_first):
        work(i)
    summary = stet.sweep(work, {"i": range(count)}, progress=_progress(progress))
    print(_counts(summary), flush=True)


def interruptible_sweep(store: str, log: str, count: int) -> None:
    """Sweep ``range(count)`` in this process, each run taking 0.2 s (the test sends
    SIGINT midway); prints the summary's counts when it ends normally.

    Ctrl-C raises KeyboardInterrupt here as in a terminal, even when the tests were
    started in the background (``&``), whose children inherit SIGINT ignored.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    work = paced(store, log, 0.2, refused=None)
    summary = stet.sweep(work, {"i": range(count)}, progress=False)
    print(_counts(summary), flush=True)


def _counts(summary: SweepSummary) -> str:
    return (
        f"counts total={summary.total} done_before={summary.done_before} ran={summary.ran} "
        f"failed={summary.failed} not_run={summary.not_run}"
    )
