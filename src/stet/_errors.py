"""The exceptions stet raises for its user to fix, with what they are about as attributes.

Each is a :class:`StetError` and also the built-in exception a caller would expect
(``ValueError``, ``FileNotFoundError``, ...), so ``except ValueError`` keeps working.
The command line matches on these types and reads their attributes; it never parses
their text. ``api`` names the function the error is about (``stet.reset``): the text
starts with it, and the command line, which has no such function, leaves it out.
"""

from __future__ import annotations

import errno

__all__ = [
    "DamagedStoreError",
    "OutputsNotWritableError",
    "StetError",
    "StoreConnectionError",
    "StoreFacts",
    "StoreNotWritableError",
    "UnknownColumnError",
    "UnsupportedValueError",
    "facts_of",
    "no_store",
    "store_exists",
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


class StoreNotWritableError(StetError, PermissionError):
    """A store this process may read but not write; refused before anything ran or changed."""


class OutputsNotWritableError(StetError, PermissionError):
    """A run's outputs directory this process may not write; refused before its body ran."""


class StoreConnectionError(StetError, ConnectionError):
    """The connection to a store's server failed; what it did not confirm was not stored."""


class StoreFacts:
    """What a ``FileNotFoundError`` or ``FileExistsError`` stet raised is about, as its
    ``stet`` attribute. These two keep their built-in type, whose name callers see.

    ``store``: how messages name the store; ``detail``: the text without the API
    function it names; ``why``: for a missing store, more to say (or None).
    """

    __slots__ = ("detail", "store", "why")

    def __init__(self, store: str, detail: str, why: str | None = None) -> None:
        self.store = store
        self.detail = detail
        self.why = why


def facts_of(error: BaseException) -> StoreFacts | None:
    """The :class:`StoreFacts` of an error stet raised, if it has them."""
    facts = getattr(error, "stet", None)
    return facts if isinstance(facts, StoreFacts) else None


def no_store(strerror: str, store: str, why: str | None = None) -> FileNotFoundError:
    """No store exists at ``store``: ``[Errno 2] No stet store at this path: 'runs.csv'``."""
    error = FileNotFoundError(errno.ENOENT, strerror, store)
    error.stet = StoreFacts(store, strerror, why)  # type: ignore[attr-defined]
    return error


def store_exists(detail: str, store: str, api: str) -> FileExistsError:
    """A store that would be created exists already; stet never writes over one."""
    error = FileExistsError(f"{api}: {detail}")
    error.stet = StoreFacts(store, detail)  # type: ignore[attr-defined]
    return error


# Tracebacks and pickles name a class by its module: these keep the names they had
# before they moved here (each module still has it).
for _moved, _module in (
    (UnsupportedValueError, "stet._values"),
    (DamagedStoreError, "stet.formats.base"),
    (StoreNotWritableError, "stet.formats.base"),
    (StoreConnectionError, "stet.formats.base"),
):
    _moved.__module__ = _module
del _moved, _module
