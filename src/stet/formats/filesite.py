"""What a store kept in files has beside its data: lock, owner, claims and torn tails.

``<store>.lock`` is the lock file every append and rewrite happens under,
``<store>.owner`` names the function that owns the unlabelled records (and keeps each
function's code history: see ``stet._provenance``), and ``<store>.claims/`` holds the
claims of the runs that are running now.
"""

from __future__ import annotations

import contextlib
import json
import os

from .._files import write_atomically
from .._lock import StoreLock
from .base import DamagedStoreError
from .claimdir import ClaimDirectory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._provenance import History

__all__ = ["FileSite"]

_OWNER_ABOUT = (
    "Written by stet: the function whose runs are the records of this store that have "
    "no _stet_function cell, and each function's code history (the fingerprint of its "
    "code and its file, from the time each version started recording)."
)


class FileSite:
    """The files beside one store file (or directory)."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        self.lock = StoreLock(f"{path}.lock")
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
