"""The claims of a store kept in files: a journal of claims, and a file per worker.

``<store>.claims/journal`` holds one line per event, appended under the store's lock:
``+<run> <worker> <lease> <function>`` when a worker claims a run (or takes it over),
``-<run> <worker>`` when it lets go. Each process reads it from where it stopped, so a claim costs
a lock, a ``stat`` and one small append: no file is created per run.

``<store>.claims/<worker>.worker`` describes each worker (host, pid, this boot of its
machine); its modification time is the worker's heartbeat, renewed by a background
thread. A claim's lease expires ``lease`` seconds after that heartbeat, by this machine's
clock; whether the claim still holds its run is ``stet._claims.holds``'s judgement.

The journal is rewritten with the live claims alone once it grows past a few hundred
KiB; readers notice the new file and read it from its start.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time

from .._claims import Claim, Worker, holds
from .._files import is_denied

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractContextManager

__all__ = ["ClaimDirectory"]

_COMPACT_AT = 256 << 10  # bytes of journal before it is rewritten with the live claims
_APPEND = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class ClaimDirectory:
    """A store's claims: a journal and worker files in one directory."""

    def __init__(self, directory: str, lock: AbstractContextManager[None]) -> None:
        self.directory = directory
        self._journal = os.path.join(directory, "journal")
        self._lock = lock  # the store's lock; the caller holds the store's mutex
        self._table: dict[str, tuple[str, float, str]] = {}  # run -> (worker, lease, function)
        self._fd: int | None = None  # the journal, open for appends and reads
        self._identity: tuple[int, int] | None = None
        self._cursor = 0
        self._workers: dict[str, Worker | None] = {}  # token -> worker, as its file says
        self._beating = ""  # the worker file this process made and renews
        self._touched = 0.0  # when this thread last touched it (time.monotonic)

    # -- the calls of the Store

    def take(self, claim: Claim) -> Claim | None:
        ident = claim.ident
        self._catch_up(create=False)  # whole lines only: a run held by a live worker is
        held = self._table.get(ident)  # skipped without waiting for the lock
        if held is not None:
            holder = self._holder(*held)
            if holder is not None:
                return holder
        with self._lock:
            fd = self._catch_up(create=True)
            assert fd is not None
            held = self._table.get(ident)
            if held is not None:
                holder = self._holder(*held)
                if holder is not None:
                    return holder
            token = claim.worker.token
            self._announce(claim.worker, claim.lease)
            entry = (_file_name(token), claim.lease, claim.function)
            self._write(fd, _claim_line(ident, entry))
            self._table[ident] = entry
            claim.handle = ident
            return None

    def release(self, claim: Claim) -> None:
        """Drop our claim, if it is still ours (the caller holds the store's lock)."""
        ident, claim.handle = claim.handle, None
        assert isinstance(ident, str), "a claim of another worker"
        fd = self._catch_up(create=False)
        mine = _file_name(claim.worker.token)
        if fd is None or self._table.get(ident, ("",))[0] != mine:
            return  # taken over while its call ran, or the journal was removed
        self._write(fd, f"-{ident} {mine}\n")
        del self._table[ident]
        if self._cursor > _COMPACT_AT:
            self._compact()

    def renew(self, claims: Sequence[Claim]) -> list[Claim]:
        """Touch this worker's file: every claim of this worker lives on."""
        if self._beating:
            with contextlib.suppress(FileNotFoundError):
                os.utime(self._beating)
            self._touched = time.monotonic()
        return []

    def running(self) -> list[Claim]:
        reader = ClaimDirectory(self.directory, contextlib.nullcontext())
        try:
            reader._catch_up(create=False)
            claims = []
            for ident, entry in reader._table.items():
                holder = reader._holder(*entry, ident=ident)
                if holder is not None:
                    claims.append(holder)
            return claims
        finally:
            reader._close()

    def tidy(self) -> None:
        """At exit: remove this worker's file, and the directory once nothing is claimed."""
        if not os.path.isdir(self.directory):
            return  # removed meanwhile (a temporary directory): nothing to tidy
        with self._lock:
            if self._beating:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self._beating)
                self._beating = ""
            self._remove_unclaimed()

    def clear(self) -> None:
        """For a full reset, under the store's lock: remove the claims' files, as before
        any claim, unless a claim lives (its call runs now, here or in another worker).

        The files of other live workers stay (they renew them); the directory goes with
        the last of them.
        """
        if not os.path.isdir(self.directory):
            return
        self._catch_up(create=False)
        if any(self._holder(*entry) for entry in self._table.values()):
            return
        if self._beating:  # announced again at this process's next claim
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._beating)
            self._beating = ""
        self._remove_unclaimed()

    def _remove_unclaimed(self) -> None:
        """The journal, the files of gone workers and the directory, once nothing is
        claimed (under the lock)."""
        self._catch_up(create=False)
        if any(self._holder(*entry) for entry in self._table.values()):
            return  # a claim lives: a worker runs a call
        self._close()
        self._remove_gone_workers()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._journal)
        with contextlib.suppress(OSError):
            os.rmdir(self.directory)  # only when no other worker's file is left

    def after_fork(self) -> None:
        self._beating = ""  # the parent's file: the child announces itself anew
        self._fd, self._identity, self._cursor = None, None, 0
        self._table.clear()

    # -- the journal

    def _catch_up(self, create: bool) -> int | None:
        """Read what other workers appended; the journal's descriptor (None: no journal)."""
        try:
            st = os.stat(self._journal)
        except FileNotFoundError:
            self._close()
            if not create:
                return None
            os.makedirs(self.directory, exist_ok=True)
            st = None
        if st is None or (st.st_dev, st.st_ino) != self._identity:
            self._close()
            try:  # without the lock, another worker's exit may remove it meanwhile
                fd = os.open(self._journal, _APPEND if create else _APPEND & ~os.O_CREAT, 0o666)
            except FileNotFoundError:
                return None
            except OSError as error:  # a journal this process may only read (a status)
                if create or not is_denied(error):
                    raise
                fd = os.open(self._journal, os.O_RDONLY | os.O_CLOEXEC)
            opened = os.fstat(fd)
            self._fd, self._identity = fd, (opened.st_dev, opened.st_ino)
            size = opened.st_size
        else:
            size = st.st_size
        descriptor = self._fd
        assert descriptor is not None
        if size > self._cursor:
            data = os.pread(descriptor, size - self._cursor, self._cursor)
            whole = data.rfind(b"\n") + 1
            self._apply(data[:whole])
            self._cursor += whole
            if whole < len(data) and create:  # a writer died mid-line: end it
                self._write(descriptor, "\n")
        return descriptor

    def _apply(self, data: bytes) -> None:
        table = self._table
        for line in data.decode("utf-8", "replace").splitlines():
            parts = line[1:].split(" ", 3)
            if line.startswith("+") and len(parts) == 4:
                with contextlib.suppress(ValueError):
                    table[parts[0]] = (parts[1], float(parts[2]), parts[3])
            elif line[:1] == "-" and len(parts) == 2 and table.get(parts[0], ("",))[0] == parts[1]:
                del table[parts[0]]  # a release ("-"), of the claim that is on record

    def _write(self, fd: int, line: str) -> None:
        data = line.encode()
        written = os.write(fd, data)
        while written < len(data):
            written += os.write(fd, data[written:])
        self._cursor += len(data)

    def _compact(self) -> None:
        """Rewrite the journal with the live claims alone (under the lock)."""
        lines = "".join(_claim_line(ident, entry) for ident, entry in self._table.items())
        temp = f"{self._journal}.{os.getpid()}.new"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            os.write(fd, lines.encode())
        finally:
            os.close(fd)
        os.replace(temp, self._journal)
        self._close()
        self._catch_up(create=False)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._identity, self._cursor = None, None, 0
        self._table.clear()

    # -- workers

    def _announce(self, worker: Worker, lease: float) -> None:
        """Make this worker's file, once per process, or make sure it is fresh.

        Between calls no heartbeat renews it, so a new claim touches it when its last
        touch is older than an eighth of the lease: the claim lives from the start.
        """
        path = os.path.join(self.directory, _file_name(worker.token) + ".worker")
        if self._beating == path:
            now = time.monotonic()
            if now - self._touched > lease / 8:
                os.utime(path)
                self._touched = now
            return
        data = {
            "host": worker.host,
            "pid": worker.pid,
            "machine": worker.machine,
            "start": worker.start,
            "worker": worker.token,
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        self._beating, self._touched = path, time.monotonic()
        self._workers[_file_name(worker.token)] = worker

    def _remove_gone_workers(self) -> None:
        """Remove the files of workers of this machine that no longer run (killed ones)."""
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.directory):
                path = os.path.join(self.directory, name)
                if name.endswith(".worker") and path != self._beating:
                    worker = _read_worker(path)
                    if worker is not None and worker.is_gone():
                        with contextlib.suppress(FileNotFoundError):
                            os.remove(path)

    def _holder(
        self, token: str, lease: float, function: str, ident: str | None = None
    ) -> Claim | None:
        """The claim of ``token`` while it holds its run; None once it does not."""
        path = os.path.join(self.directory, token + ".worker")
        try:
            beat = os.stat(path).st_mtime
        except FileNotFoundError:
            return None  # its worker exited
        worker = self._workers.get(token)
        if worker is None:
            worker = self._workers[token] = _read_worker(path)
        if worker is None:
            return None  # a worker file stet cannot read holds nothing
        claim = Claim(function, b"", "", worker, lease, ident)
        return claim if holds(claim, beat + lease, time.time()) else None


def _claim_line(ident: str, entry: tuple[str, float, str]) -> str:
    token, lease, function = entry
    return f"+{ident} {token} {lease!r} {function}\n"


@functools.cache
def _file_name(token: str) -> str:
    return token.replace(":", "-").replace("/", "-")


def _read_worker(path: str) -> Worker | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return Worker(
            str(data["host"]),
            int(data["pid"]),
            str(data["machine"]),
            int(data["start"]),
            str(data["worker"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
