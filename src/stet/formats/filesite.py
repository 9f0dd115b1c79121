"""What a store kept in files has beside its data: lock, owner, claims and torn tails.

``<store>.lock`` is the lock file every append and rewrite happens under,
``<store>.owner`` names the function that owns the unlabelled records, and
``<store>.claims/`` holds the claims of the runs that are running now.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading

from .._files import write_atomically
from .._lock import StoreLock
from .base import DamagedStoreError
from .claimdir import ClaimDirectory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["FileSite", "ThreadSafeLock"]

_OWNER_ABOUT = (
    "Written by stet: the function whose runs are the records of this store that have "
    "no _stet_function cell."
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


class FileSite:
    """The files beside one store file (or directory)."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        self.lock = ThreadSafeLock(StoreLock(f"{path}.lock"))
        self.claims = ClaimDirectory(f"{path}.claims", self.lock)
        self._owner_path = f"{path}.owner"

    def prepare(self) -> None:
        """Make the store's directory (``runs/fits.csv``: make ``runs/``)."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

    def read_owner(self) -> str | None:
        try:
            with open(self._owner_path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            raise DamagedStoreError(
                f"{self._owner_path} is damaged; it names the function that wrote "
                f"{self.name}. Delete it and stet will ask the next function to claim the store."
            ) from None
        function = data.get("function") if isinstance(data, dict) else None
        return function if isinstance(function, str) else None

    def write_owner(self, function: str) -> None:
        text = json.dumps({"function": function, "about": _OWNER_ABOUT}, indent=1) + "\n"
        write_atomically(self._owner_path, text.encode("utf-8"))

    def remove_owner(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._owner_path)

    def set_aside(self, tail: bytes) -> str:
        """Keep a torn last record in ``<store>.torn``; returns that file's name."""
        torn_path = f"{self.path}.torn"
        with open(torn_path, "ab") as torn:
            torn.write(tail + b"\n")
        return os.path.basename(torn_path)

    def tidy(self) -> None:
        """At exit: remove what only running calls need."""
        self.claims.tidy()

    def after_fork(self) -> None:
        self.lock.after_fork()
