"""Claims: a worker's lease on the run it is running, so that no other worker runs it too.

Before a call runs, its worker *claims* the run in the store. A claim is a lease: it lives
``lease`` seconds past its last renewal, and a background thread (the heartbeat) renews
the claims of this process while their calls run. A claim whose lease ran out (a worker
killed, a node lost) is taken over by the next worker that reaches the run; so is one
whose holder was a process of this very machine that no longer runs, without waiting.

Each kind of store keeps its claims its own way (a :class:`ClaimBook`): files in a
directory beside a file store, a table in PostgreSQL. A book finds each claim's holder
and when its lease expires, on the book's own clock; the policy that judges them is
here (:func:`holds`).
"""

from __future__ import annotations

import contextlib
import os
import threading

from . import _report

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Protocol

__all__ = [
    "DEFAULT_LEASE",
    "MAX_LEASE",
    "Claim",
    "ClaimBook",
    "Heartbeat",
    "Worker",
    "check_lease",
    "heartbeat",
    "holds",
    "run_ident",
]

DEFAULT_LEASE = 60.0  # seconds: a dead worker's run waits at most this long
HEARTBEATS_PER_LEASE = 4  # a claim is renewed this often within one lease by default


# The longest lease: the heartbeat thread waits at most a lease, and this platform's
# waits are bounded (``threading.TIMEOUT_MAX``: about 292 years on Linux, 49 days on
# Windows). A longer one would kill that thread, and with it every claim's renewal.
MAX_LEASE = float(threading.TIMEOUT_MAX)


def check_lease(lease: object, beat: object) -> tuple[float, float]:
    """The lease and heartbeat interval of ``@stet.once``, checked; the beat defaults."""
    if (
        isinstance(lease, bool)
        or not isinstance(lease, int | float)
        or not 0 < lease <= MAX_LEASE  # NaN too
    ):
        raise ValueError(
            f"@stet.once: lease must be a number of seconds > 0 and at most {MAX_LEASE:.0f} "
            f"(the longest wait this platform allows), not {lease!r}; for no claims at all, "
            f"use claims=False"
        )
    if beat is None:
        return float(lease), float(lease) / HEARTBEATS_PER_LEASE
    if isinstance(beat, bool) or not isinstance(beat, int | float) or not 0 < beat <= lease / 2:
        raise ValueError(
            f"@stet.once: heartbeat must be a number of seconds > 0 and at most half the "
            f"lease ({lease}), so that a live claim is renewed before it expires: {beat!r}"
        )
    return float(lease), float(beat)


class Worker:
    """Who holds a claim: this process, named so that others can tell if it still runs."""

    __slots__ = ("host", "machine", "pid", "start", "token")

    def __init__(self, host: str, pid: int, machine: str, start: int, token: str) -> None:
        self.host = host
        self.pid = pid
        self.machine = machine  # this boot of this machine and its pid namespace ("" unknown)
        self.start = start  # when the process started, in clock ticks since boot (0 unknown)
        self.token = token  # unique to this process

    @classmethod
    def current(cls) -> Worker:
        """This process (computed once per process; a forked child gets its own)."""
        global _current
        pid = os.getpid()
        current = _current
        if current is not None and current.pid == pid:
            return current
        with _current_lock:  # threads that start at once must agree on one token
            if _current is None or _current.pid != pid:
                import secrets
                import socket

                host = socket.gethostname()
                token = f"{host}:{pid}:{secrets.token_hex(4)}"
                _current = cls(host, pid, _machine(), _start_ticks(pid), token)
            return _current

    def is_gone(self) -> bool:
        """True when this worker was a process of this machine that no longer runs."""
        here = Worker.current()
        if not self.machine or self.machine != here.machine:
            return False  # another machine, or one that cannot tell: wait for the lease
        if self.pid == here.pid:
            return self.token != here.token  # this pid's earlier process (a fork's parent)
        start = _start_ticks(self.pid)
        return start == 0 or (self.start != 0 and start != self.start)


_current: Worker | None = None
_current_lock = threading.Lock()


def _machine() -> str:
    """This boot of this machine and this pid namespace: where pids mean the same."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot}/{namespace}"


def _start_ticks(pid: int) -> int:
    """When process ``pid`` started (clock ticks since boot); 0 when it does not run.

    A zombie (killed, not yet reaped by its parent) does not run.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    if fields[0] in (b"Z", b"X"):
        return 0
    return int(fields[19])


def run_ident(function: str, key: bytes) -> str:
    """A short name of one run of one function, the same in every process."""
    import hashlib

    digest = hashlib.blake2b(function.encode("utf-8", "surrogatepass"), digest_size=16)
    digest.update(b"\0" + key)
    return digest.hexdigest()


class Claim:
    """One worker's claim on one run of one function."""

    __slots__ = ("_call", "_ident", "function", "handle", "key", "lease", "worker")

    def __init__(
        self,
        function: str,
        key: bytes,
        call: str | Callable[[], str],
        worker: Worker,
        lease: float,
        ident: str | None = None,
    ) -> None:
        self.function = function
        self.key = key
        self._ident = ident  # given by a book that keeps idents, not keys
        self._call = call  # the text, or what makes it when a book first asks
        self.worker = worker
        self.lease = lease
        self.handle: object = None  # what the book needs to find its own claim again

    @property
    def call(self) -> str:
        """How the call reads: ``calculation(alpha=0.1, beta=0.2)``."""
        call = self._call
        if not isinstance(call, str):
            call = self._call = call()
        return call

    @property
    def ident(self) -> str:
        """A short name of the run, the same in every process: a file name, say."""
        ident = self._ident
        if ident is None:
            ident = self._ident = run_ident(self.function, self.key)
        return ident

    def holder_is_gone(self) -> bool:
        return self.worker.is_gone()

    def where(self) -> str:
        """Who runs it, for messages: ``node7, pid 4121``."""
        return f"{self.worker.host}, pid {self.worker.pid}"


def holds(holder: Claim, expires: float, now: float) -> bool:
    """Whether ``holder``'s claim still holds its run, so that no other worker runs it.

    It holds while its lease has not run out (``expires`` and ``now`` on the book's
    clock) and its worker is not gone: the claim of a process of this machine that no
    longer runs is taken over at once, without waiting for its lease.
    """
    return now <= expires and not holder.holder_is_gone()


if TYPE_CHECKING:

    class ClaimBook(Protocol):
        """Where one store keeps its claims."""

        def take(self, claim: Claim) -> Claim | None:
            """Claim a run: None when it is now ours, else the live claim of its holder.

            A claim that no longer :func:`holds` is taken over atomically.
            """

        def renew(self, claims: Sequence[Claim]) -> list[Claim]:
            """Extend our claims by their lease (from the heartbeat thread); returns the
            ones another worker took over meanwhile."""

        def release(self, claim: Claim) -> None:
            """Drop our claim, if it is still ours (called with the store's lock held)."""

        def running(self) -> list[Claim]:
            """Every live claim, of any worker."""

        def after_fork(self) -> None:
            """In a forked child: forget what belongs to the parent."""


class Heartbeat:
    """One thread per process that renews this process's claims while their calls run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._claims: dict[int, tuple[ClaimBook, Claim, float]] = {}  # id(claim) -> ...
        self._thread: threading.Thread | None = None
        self._sleeping = 0.0  # the longest a claim may wait for the thread to wake now
        self._stores: dict[int, str] = {}  # id(book) -> the name of its store, for messages
        self._failing: set[int] = set()  # the books whose last renewal failed (reported)

    def watch(self, book: ClaimBook, claim: Claim, every: float, store: str = "") -> None:
        """Renew ``claim`` every ``every`` seconds until :meth:`forget`; ``store`` names
        its store in the line that says a renewal failed."""
        with self._lock:
            self._claims[id(claim)] = (book, claim, every)
            self._stores[id(book)] = store
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="stet-heartbeat", daemon=True
                )
                self._thread.start()
            elif every < self._sleeping:
                self._wake.notify()  # it sleeps longer than this claim may wait

    def forget(self, claim: Claim) -> None:
        with self._lock:
            self._claims.pop(id(claim), None)

    def _run(self) -> None:
        import time

        due: dict[int, float] = {}
        while True:
            with self._lock:
                now = time.monotonic()
                for ident, (_, _, every) in self._claims.items():
                    due.setdefault(ident, now + every)
                for ident in [i for i in due if i not in self._claims]:
                    del due[ident]
                wait = min(due.values(), default=now + 3600) - now
                if wait > 0:
                    shortest = min((every for _, _, every in self._claims.values()), default=3600)
                    self._sleeping = min(shortest, wait)
                    self._wake.wait(min(wait, MAX_LEASE))  # a longer wait raises
                    self._sleeping = 0.0
                    continue
                ready = [self._claims[i] for i, when in due.items() if when <= now]
                for _, claim, every in ready:
                    due[id(claim)] = now + every
            self._renew(ready)

    def _renew(self, ready: list[tuple[ClaimBook, Claim, float]]) -> None:
        """Renew the claims that are due, store by store: one store's trouble (gone,
        unreachable, unwritable) is reported once, and the others are renewed all the same."""
        books: dict[int, tuple[ClaimBook, list[Claim]]] = {}
        for book, claim, _ in ready:
            books.setdefault(id(book), (book, []))[1].append(claim)
        for ident, (book, claims) in books.items():
            try:
                lost = book.renew(claims)
            except Exception as error:  # the lease decides; the next beat tries again
                if ident not in self._failing:
                    self._failing.add(ident)
                    lease = min(claim.lease for claim in claims)
                    with contextlib.suppress(Exception):  # printing must not stop the beat
                        _report.renewal_failed(self._stores.get(ident, ""), error, lease)
                continue
            self._failing.discard(ident)
            for claim in lost:  # another worker took it over: renewing it is pointless
                self.forget(claim)


_heartbeat = Heartbeat()


def heartbeat() -> Heartbeat:
    """This process's heartbeat."""
    return _heartbeat


def _after_fork_in_child() -> None:
    global _heartbeat, _current_lock
    _current_lock = threading.Lock()
    _heartbeat = Heartbeat()  # the parent's claims are the parent's; no thread survives


os.register_at_fork(after_in_child=_after_fork_in_child)
