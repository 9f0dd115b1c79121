"""The claims of a store kept in files: one small file per claimed run, in a directory.

``<store>.claims/<run>.claim`` holds the holder's claim as JSON; the file's modification
time is its last renewal. The claim is written whole under a name of its own, then linked
to the run's name: the link succeeds for one worker only, so two workers never both win
a free run, and no worker ever reads half a claim. A lapsed claim is replaced (written
beside, renamed over) under the store's lock, so two workers never both take over the
same one. The holder renews through
its open descriptor, which stays with its own file, and notices a takeover when that file
has no name left.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

from .._claims import DEFAULT_LEASE, Claim, Worker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractContextManager

__all__ = ["ClaimDirectory"]

_SUFFIX = ".claim"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


class ClaimDirectory:
    """A store's claims as files in one directory."""

    def __init__(self, directory: str, lock: AbstractContextManager[None]) -> None:
        self.directory = directory
        self._lock = lock

    def take(self, claim: Claim) -> Claim | None:
        ident = claim.ident
        path = os.path.join(self.directory, ident + _SUFFIX)
        thread = threading.get_ident()
        temp = os.path.join(self.directory, f".{ident}.{thread}.{claim.worker.pid}.new")
        data = claim.to_json().encode("utf-8", "surrogatepass")
        while True:
            try:
                fd = os.open(temp, _CREATE, 0o666)
            except FileNotFoundError:
                os.makedirs(self.directory, exist_ok=True)
                continue
            try:
                _write(fd, data)
                os.link(temp, path)
            except FileExistsError:
                os.close(fd)
                held = _read(path)
                if held is None:
                    continue  # released meanwhile: try again
                holder, seen = held
                if _is_live(holder, seen):
                    return holder
                with self._lock:
                    if self._take_over(path, temp, data, claim, seen):
                        return None
                continue
            except BaseException:
                os.close(fd)
                raise
            finally:
                _remove(temp)
            claim.handle = (fd, path)
            return None

    def _take_over(
        self, path: str, temp: str, data: bytes, claim: Claim, seen: os.stat_result
    ) -> bool:
        """Replace the lapsed claim at ``path``, unless it changed since it was judged."""
        try:
            now = os.stat(path)
        except FileNotFoundError:
            return False
        if (now.st_ino, now.st_mtime_ns) != (seen.st_ino, seen.st_mtime_ns):
            return False
        fd = os.open(temp, _CREATE, 0o666)
        try:
            _write(fd, data)
            os.replace(temp, path)
        except BaseException:
            os.close(fd)
            _remove(temp)
            raise
        claim.handle = (fd, path)
        return True

    def renew(self, claims: Sequence[Claim]) -> list[Claim]:
        lost = []
        for claim in claims:
            fd, _ = _handle(claim)
            os.utime(fd)
            if not os.fstat(fd).st_nlink:
                lost.append(claim)
        return lost

    def release(self, claim: Claim) -> None:
        fd, path = _handle(claim)
        claim.handle = None
        try:
            mine = os.fstat(fd)
            with contextlib.suppress(FileNotFoundError):
                there = os.stat(path)
                if (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino):
                    os.remove(path)
        finally:
            os.close(fd)

    def running(self) -> list[Claim]:
        try:
            names = [n for n in os.listdir(self.directory) if n.endswith(_SUFFIX)]
        except FileNotFoundError:
            return []
        claims = []
        for name in names:
            held = _read(os.path.join(self.directory, name))
            if held is not None and _is_live(*held):
                claims.append(held[0])
        return claims

    def tidy(self) -> None:
        """Remove the directory when no claim is left in it."""
        with contextlib.suppress(OSError):
            for name in os.listdir(self.directory):  # left by workers killed mid-claim
                if name.endswith(".new") and _is_gone_pid(name):
                    _remove(os.path.join(self.directory, name))
            os.rmdir(self.directory)

    def after_fork(self) -> None:
        pass  # claims are released by the process that took them


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _handle(claim: Claim) -> tuple[int, str]:
    handle = claim.handle
    assert isinstance(handle, tuple), "a claim of another worker"
    return handle


def _write(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    while written < len(data):
        written += os.write(fd, data[written:])


def _read(path: str) -> tuple[Claim, os.stat_result] | None:
    """The claim in a file and the file's status; None when the file is gone."""
    try:
        with open(path, "rb") as handle:
            seen = os.fstat(handle.fileno())
            text = handle.read().decode("utf-8", "surrogatepass")
    except FileNotFoundError:
        return None
    claim = Claim.from_json(text)
    if claim is None:  # not written by stet: it lapses after the default lease
        claim = Claim("?", b"", "?", Worker("an unknown host", 0, "", 0, "?"), DEFAULT_LEASE)
    return claim, seen


def _is_gone_pid(name: str) -> bool:
    """Whether the worker that wrote the temporary file ``.<run>.<thread>.<pid>.new`` is gone."""
    pid = name.rsplit(".", 2)[-2]
    here = Worker.current()
    return pid.isdigit() and Worker("", int(pid), here.machine, 0, "").is_gone()


def _is_live(claim: Claim, seen: os.stat_result) -> bool:
    if seen.st_mtime + claim.lease < time.time():
        return False
    return not claim.holder_is_gone()
