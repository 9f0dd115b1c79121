"""Work to do when a process ends, in every kind of process that runs stet.

A worker of ``multiprocessing`` (so of ``ProcessPoolExecutor`` too) leaves with
``os._exit``, which skips ``atexit``; multiprocessing runs its own finalizers there
instead. A callback registered here runs once, whichever way the process ends.
"""

from __future__ import annotations

import atexit
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["at_exit"]


def at_exit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once when this process ends."""
    done = False

    def once() -> None:
        nonlocal done
        if not done:
            done = True
            callback()

    atexit.register(once)
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is not None and multiprocessing.parent_process() is not None:
        from multiprocessing import util

        util.Finalize(None, once, exitpriority=10)
