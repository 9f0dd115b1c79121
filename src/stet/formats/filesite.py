"""What a store kept in files has beside its data: its lock, owner and claims.

``<store>.lock`` is the lock file every append and rewrite happens under,
``<store>.owner`` names the function that owns the unlabelled records (and keeps each
function's code history: see ``stet._provenance``), and ``<store>.claims/`` holds the
claims of the runs that are running now.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading

from .._files import remove_leftovers, write_atomically
from .._lock import StoreLock
from .base import DamagedStoreError, Site
from .claimdir import ClaimDirectory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType
    from typing import Any

    from .._provenance import History

__all__ = ["FileSite", "ThreadSafeLock"]

_OWNER_ABOUT = (
    "Written by stet: the function whose runs are the records of this store that have "
    "no _stet_function cell, and each function's code history (the fingerprint of its "
    "code and its file, from the time each version started recording)."
)


class ThreadSafeLock:
    """The store's lock, taken by one thread at a time: the Store's threads hold its
    mutex when they take it, and a format's own thread (Parquet's background
    compaction) may take it too."""

    def __init__(self, lock: StoreLock) -> None:
        self._lock = lock
        self._threads = threading.RLock()

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            self._lock.__enter__()
        except BaseException:
            self._threads.release()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._lock.__exit__(kind, error, traceback)
        finally:
            self._threads.release()

    def after_fork(self) -> None:
        self._threads = threading.RLock()  # another thread may have held it at the fork
        self._lock.after_fork()

    @property
    def path(self) -> str:
        """The lock file's path."""
        return self._lock.path

    @contextlib.contextmanager
    def if_permitted(self) -> Iterator[bool]:
        """The lock when this process may take it (True), else nothing (False): see
        ``StoreLock.if_permitted``."""
        with self._threads, self._lock.if_permitted() as held:
            yield held


class FileSite(Site):
    """The files beside one store file (or directory)."""

    lock: ThreadSafeLock
    claims: ClaimDirectory

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        self.lock = ThreadSafeLock(StoreLock(f"{path}.lock"))
        self.claims = ClaimDirectory(f"{path}.claims", self.lock)
        self._owner_path = f"{path}.owner"

    def prepare(self) -> None:
        """Make the store's directory (``runs/fits.csv``: make ``runs/``)."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

    def _read(self) -> dict[str, Any]:
        try:
            with open(self._owner_path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except (ValueError, OSError):
            raise DamagedStoreError(
                f"{self._owner_path} is damaged; it names the function that wrote "
                f"{self.name}. Delete it and stet will ask the next function to claim the store."
            ) from None
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=1) + "\n"
        write_atomically(self._owner_path, text.encode("utf-8"))

    def read_owner(self) -> str | None:
        function = self._read().get("function")
        return function if isinstance(function, str) else None

    def write_owner(self, function: str) -> None:
        data = self._read()
        data.update(function=function, about=_OWNER_ABOUT)
        self._write(data)

    def read_history(self) -> History:
        """Each function's code history (``stet._provenance``); {} when none is kept."""
        history = self._read().get("history")
        return history if isinstance(history, dict) else {}

    def write_history(self, history: History) -> None:
        data = self._read()
        data.setdefault("about", _OWNER_ABOUT)
        data["history"] = history
        self._write(data)

    def remove_owner(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._owner_path)

    def tidy(self) -> None:
        """At exit: remove what only running calls need."""
        self.claims.tidy()

    def after_fork(self) -> None:
        self.lock.after_fork()

    def write_problem(self) -> str | None:
        """Why this process could not record into the store, if it could not: the first
        of the paths a record writes (the store's directory, the store, its lock file)
        that it may not write."""
        directory = os.path.dirname(os.path.abspath(self.path))
        while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
            directory = os.path.dirname(directory)  # made at the first record: its parent
        claims = self.claims.directory
        paths = [directory, self.path, self.lock.path, claims, os.path.join(claims, "journal")]
        paths += [self.path + suffix for suffix in _DATABASE_FILES]
        if os.path.isdir(self.path):  # a directory store: stet's files in it too
            with os.scandir(self.path) as entries:
                paths += [e.path for e in entries if e.name.startswith("_stet_")]
        for path in paths:
            if os.path.exists(path) and not _may_write(path):
                return _why_not(path)
        return None

    def clear(self) -> None:
        """For a full reset, under the store's lock: remove the store and every file
        beside it, as before its first record; a set-aside ``.torn`` file stays.

        The lock file goes last: a process that opens it afresh from then on locks a
        new one, and this process does nothing more under the old one.
        """
        if os.path.isdir(self.path) and not os.path.islink(self.path):
            shutil.rmtree(self.path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
        for suffix in _DATABASE_FILES:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path + suffix)
        self.remove_owner()
        for path in (self.path, self._owner_path):  # temporary files of killed writers
            remove_leftovers(path)
        self.claims.clear()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.lock.path)


# What a format keeps beside the store: SQLite's files beside a database (an open
# connection of another process to a removed database notices the new file and never
# uses its own again), and a Parquet store's journal beside its directory.
_DATABASE_FILES = ("-wal", "-shm", "-journal", ".journal")


def _may_write(path: str) -> bool:
    mode = os.W_OK | (os.X_OK if os.path.isdir(path) else 0)
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)


def _why_not(path: str) -> str:
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        read_only = False
    if read_only:
        return f"{path} is on a read-only file system"
    kind = "directory" if os.path.isdir(path) else "file"
    return f"this user may not write the {kind} {path}"
