"""The exceptions stet raises for its user to fix, with what they are about as attributes.

Each is a :class:`StetError` and also the built-in exception a caller would expect
(``ValueError``, ``FileNotFoundError``, ...), so ``except ValueError`` keeps working.
The command line matches on these types and reads their attributes; it never parses
their text. ``api`` names the function the error is about (``stet.reset``): the text
starts with it, and the command line, which has no such function, leaves it out.
"""

from __future__ import annotations

__all__ = [
    "DamagedStoreError",
    "NoStoreError",
    "StetError",
    "StoreConnectionError",
    "StoreExistsError",
    "StoreLocationError",
    "StoreNotWritableError",
    "UnknownColumnError",
    "UnstorableColumnError",
    "UnsupportedValueError",
]


class StetError(Exception):
    """An error stet raised for its user: what went wrong, and how to go on."""

    def __init__(self, *args: object, api: str = "") -> None:
        super().__init__(*args)
        self.api = api  # the function called (stet.reset), or ""

    @property
    def detail(self) -> str:
        """The text without the ``api`` it starts with."""
        return super().__str__()

    def __str__(self) -> str:
        detail = self.detail
        return f"{self.api}: {detail}" if self.api else detail


class UnsupportedValueError(StetError, TypeError):
    """A value stet cannot compare exactly, so it cannot be part of a run's key."""


class DamagedStoreError(StetError, ValueError):
    """A store file stet cannot read; nothing in it was changed."""


class UnknownColumnError(StetError, ValueError):
    """Values to match name a column the store does not have."""

    def __init__(
        self,
        *args: object,
        api: str = "",
        store: str = "",
        column: str = "",
        columns: tuple[str, ...] = (),
    ) -> None:
        super().__init__(*args, api=api)
        self.store = store  # how messages name the store
        self.column = column  # the column asked for
        self.columns = columns  # the columns it has


class StoreLocationError(StetError, ValueError):
    """A store location stet cannot use: a format it does not know, a path naming a
    directory, a URL it cannot read."""


class UnstorableColumnError(StetError, ValueError):
    """A key column the store's format cannot hold (beside the columns it has)."""


class StoreNotWritableError(StetError, PermissionError):
    """A store this process may read but not write; refused before anything ran or changed."""


class StoreConnectionError(StetError, ConnectionError):
    """The connection to a store's server failed; what it did not confirm was not stored."""


class NoStoreError(StetError, FileNotFoundError):
    """No store exists at a location (``filename``: how messages name it).

    Raised as ``NoStoreError(errno.ENOENT, "No stet store at this path", name)``;
    ``why`` says more when there is more to say (``its table is missing``).
    """

    def __init__(self, *args: object, api: str = "", why: str | None = None) -> None:
        super().__init__(*args, api=api)
        self.why = why

    @property
    def store(self) -> str:
        name = self.filename
        return name if isinstance(name, str) else ""


class StoreExistsError(StetError, FileExistsError):
    """A store that would be created exists already; stet never writes over one."""

    def __init__(self, *args: object, api: str = "", store: str = "") -> None:
        super().__init__(*args, api=api)
        self.store = store
