"""The process's one ``Store`` per store location, shared by every function that uses it."""

from __future__ import annotations

import copyreg
import os
import threading

from ._files import store_path
from ._store import Store
from .formats import is_url, redacted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["get_store"]

_registry: dict[str, Store] = {}
_registry_lock = threading.Lock()


def get_store(location: str | os.PathLike[str], name: str | None = None) -> Store:
    """The process's one ``Store`` for a location (relative paths: the working directory).

    A path is resolved once, here, to the file it names through any symbolic links: a
    rewrite replaces that file (never the link), and its lock, owner and claims sit
    beside it, whichever path each process uses. Messages show the path as given (or
    ``name``, for a location resolved earlier), as the first to ask for the store gave it.
    """
    given = os.fspath(location)
    path = given if is_url(given) else os.path.realpath(store_path(given))
    with _registry_lock:
        store = _registry.get(path)
        if store is None:
            store = _registry[path] = Store(path, redacted(given if name is None else name))
        return store


def _reopen(path: str, name: str) -> Store:
    store = get_store(path)
    store.name = redacted(name)
    return store


def _reduce(store: Store) -> tuple[Callable[[str, str], Store], tuple[str, str]]:
    """A Store pickles as its location: unpickled, it is that process's one Store."""
    return (_reopen, (store.path, store.name))


copyreg.pickle(Store, _reduce)


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for store in _registry.values():
        store.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
