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
import functools
import os
import sys

from ._files import is_denied

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType

__all__ = ["StoreLock", "waiting"]


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
            while True:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
                _flock(self._fd, self.path)
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


# ------------------------------------------------------------------------ waiting for it

# A lock is held for microseconds (an append, a claim) to seconds (a rewrite of a large
# store); a wait longer than this is said once, naming the process that holds the lock.
PATIENCE = 10.0


def _flock(fd: int, path: str) -> None:
    """Take the ``flock`` on ``fd``: at once when it is free, else wait for it, saying so
    once the wait passes :data:`PATIENCE` (a holder stopped by ``SIGSTOP``, a suspended
    job). A lock is never taken from a live process: its bytes may be half written."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    status = os.fstat(fd)
    with waiting(path, functools.partial(_flock_holder, status.st_dev, status.st_ino)):
        fcntl.flock(fd, fcntl.LOCK_EX)


@contextlib.contextmanager
def waiting(lock: str, holder: Callable[[], int | None] | None = None) -> Iterator[None]:
    """Around a wait for the lock named ``lock``: once it lasts past :data:`PATIENCE`,
    say so, with the process of this machine that ``holder()`` finds holding it."""
    ticket = _waits.begin(lock, holder)
    try:
        yield
    finally:
        _waits.end(ticket)


class _Waits:
    """The waits of this process's threads for store locks, and one thread that says so
    when one lasts past :data:`PATIENCE` (started at the first wait, none before)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waits: dict[int, tuple[float, str, Callable[[], int | None] | None]] = {}
        self._said: set[int] = set()  # the tickets whose wait was said
        self._next = 0
        self._thread: threading.Thread | None = None

    def begin(self, lock: str, holder: Callable[[], int | None] | None) -> int:
        import threading
        import time

        with self._lock:
            self._next += 1
            self._waits[self._next] = (time.monotonic(), lock, holder)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stet-lock", daemon=True)
                self._thread.start()
            else:
                self._changed.notify()  # it may sleep with no wait to time
            return self._next

    def end(self, ticket: int) -> None:
        with self._lock:
            self._waits.pop(ticket, None)
            self._said.discard(ticket)

    def _run(self) -> None:
        import time

        while True:
            with self._lock:
                now = time.monotonic()
                due = [t for t, (since, *_) in self._waits.items() if now - since >= PATIENCE]
                fresh = [t for t in due if t not in self._said]
                told = {self._waits[t][1] for t in self._said}  # locks said, still waited for
                self._said.update(fresh)
                saying = {self._waits[t][1]: self._waits[t][2] for t in fresh}  # once a lock
                for lock in told:
                    saying.pop(lock, None)
                pending = [s for t, (s, *_) in self._waits.items() if t not in self._said]
                if not saying:
                    self._changed.wait(min(pending) + PATIENCE - now if pending else None)
                    continue
            for lock, holder in saying.items():
                with contextlib.suppress(Exception):  # a message must never stop a wait
                    _say_waiting(lock, holder)


def _say_waiting(lock: str, holder: Callable[[], int | None] | None) -> None:
    from . import _report

    pid = holder() if holder is not None else None
    state = _process_state(pid) if pid is not None else ""
    _report.waiting_for_lock(lock, PATIENCE, pid, state in ("T", "t"))


def _flock_holder(device: int, inode: int) -> int | None:
    """The process of this machine that holds the ``flock`` on a file (``/proc/locks``),
    if it can be seen from here (not on another machine, not on a platform without it)."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    wanted = f"{os.major(device):02x}:{os.minor(device):02x}:{inode}"
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
            pid = int(fields[4]) if fields[4].isdigit() else 0  # a waiter's line has "->"
            return pid if pid > 0 else None
    return None


def _process_state(pid: int) -> str:
    """A process's state letter (``T``: stopped), or "" when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0].decode("ascii")
    except (OSError, IndexError, UnicodeDecodeError):
        return ""


_waits = _Waits()


def _after_fork_in_child() -> None:
    global _waits
    _waits = _Waits()  # the parent's waits are the parent's; no thread survives a fork


if sys.platform != "win32":
    os.register_at_fork(after_in_child=_after_fork_in_child)
