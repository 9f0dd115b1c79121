"""The cross-process lock every append and rewrite of a store happens under.

On POSIX it is ``flock`` on a ``<store>.lock`` file that stays open: a few microseconds
to take and release, where ``filelock`` spends 100-200 us per cycle on bookkeeping
(``benchmarks/lock.py`` measures both), several times stet's whole budget for a record.
Elsewhere (Windows) it is ``filelock.FileLock``.

The lock is reentrant within the thread that holds the store's mutex, survives ``fork``
(a child opens its own descriptor, so it never shares its parent's lock), and notices a
lock file that was deleted and made anew.

A process that may only read a store (its directory and files are read-only to it) cannot
open the lock file for writing, nor create it; its reads go without the lock
(:meth:`StoreLock.if_permitted`).
"""

from __future__ import annotations

import contextlib
import os
import sys

from ._files import is_denied

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

__all__ = ["StoreLock"]


class StoreLock:
    """A reentrant cross-process lock on one lock file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._depth = 0
        self._fallback: object | None = None

    def after_fork(self) -> None:
        """In a forked child: drop the parent's descriptor at once.

        A ``flock`` lock lives until the last descriptor of its open file closes; a child
        that kept its copy would keep a parent's lock alive after the parent died. The
        store registry calls this in every child (``os.register_at_fork``).
        """
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._depth = None, 0

    def __enter__(self) -> None:
        if self._depth == 0:
            self._acquire()
        self._depth += 1

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._release()

    @contextlib.contextmanager
    def if_permitted(self) -> Iterator[bool]:
        """The lock, when this process may take it (True); else nothing (False).

        For reads that want the lock but can do without it: a process that may not open
        the lock file for writing may not write the store either, and what another
        writer is appending meanwhile is an incomplete last record, which such a read
        leaves out.
        """
        try:
            self.__enter__()
        except OSError as error:
            if not is_denied(error):
                raise
            held = False
        else:
            held = True
        try:
            yield held
        finally:
            if held:
                self.__exit__(None, None, None)

    if sys.platform != "win32":

        def _acquire(self) -> None:
            import fcntl

            while True:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                if os.fstat(self._fd).st_nlink:
                    return
                os.close(self._fd)  # the lock file was deleted: lock the one on disk
                self._fd = None

        def _release(self) -> None:
            import fcntl

            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    else:  # pragma: no cover - exercised on Windows only

        def _acquire(self) -> None:
            from filelock import FileLock

            if self._fallback is None:
                self._fallback = FileLock(self.path)
            self._fallback.acquire()  # type: ignore[attr-defined]

        def _release(self) -> None:
            self._fallback.release()  # type: ignore[union-attr]
