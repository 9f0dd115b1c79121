"""The one thread per process that compacts journaled stores a while after an append."""

from __future__ import annotations

import contextlib
import os
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class Compactable(Protocol):
        """A journaled store, as the thread sees it."""

        path: str

        def flush(self, early: bool = False) -> None: ...

        def forget_pending(self) -> None: ...


__all__ = ["FLUSHER", "Flusher"]


class Flusher:
    """One thread per process that compacts, a while (``FLUSH_AFTER``) after an append,
    the stores whose records this process appended to their journal."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._due: dict[Compactable, float] = {}  # store -> when to compact it
        self._writers: set[Compactable] = set()  # every store this process appended to
        self._thread: threading.Thread | None = None

    def add(self, store: Compactable, at: float) -> None:
        with self._changed:
            self._writers.add(store)
            if store in self._due:
                return
            self._due[store] = at
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="stet-compaction", daemon=True
                )
                self._thread.start()
            self._changed.notify()

    def flush(self, path: str) -> None:
        """Compact now what this process appended to the store at ``path`` (after the
        background compaction under way, if any)."""
        real = os.path.realpath(path)
        with self._changed:
            stores = [s for s in self._writers if os.path.realpath(s.path) == real]
        for store in stores:
            store.flush(early=True)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._due:
                    self._changed.wait()
                store, at = min(self._due.items(), key=lambda item: item[1])
                wait = at - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                del self._due[store]
            # A failure leaves the records safe in the journal; the next append tries again.
            with contextlib.suppress(Exception):
                store.flush()

    def after_fork(self) -> None:
        """In a forked child: the thread stayed in the parent, and so do its stores'
        waiting records (the child schedules its own)."""
        for store in self._writers:
            store.forget_pending()
        self._changed = threading.Condition()
        self._due = {}
        self._writers = set()
        self._thread = None


FLUSHER = Flusher()
os.register_at_fork(after_in_child=FLUSHER.after_fork)
