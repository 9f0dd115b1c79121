"""Replacing a file atomically: a temporary file beside it, fsync, then rename."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os

__all__ = ["is_denied", "remove_leftovers", "store_path", "write_atomically"]

_counter = itertools.count()


def store_path(given: str) -> str:
    """The absolute path of a store file given as ``given`` (not a URL), ``~`` expanded.

    A path ending in ``/`` names a directory, not a store file: ``ValueError``.
    """
    if given.endswith(("/", os.sep)):
        stripped = given.rstrip("/" + os.sep)
        _, extension = os.path.splitext(stripped)
        meant = stripped if extension else os.path.join(stripped or ".", "runs.csv")
        raise ValueError(
            f"the store path {given!r} ends in '/', so it names a directory, not a store "
            f"file; give the store's file name, such as {meant!r}"
        )
    return os.path.abspath(os.path.expanduser(given))


def write_atomically(path: str, data: bytes) -> None:
    """Make ``path`` hold ``data``: readers see the old file or the new one, never a mix.

    A new file gets the mode the umask gives; an existing one keeps its mode. The caller
    holds the store's lock, so temporary files of earlier writes to ``path`` are left
    over from writers that were killed, and are removed.
    """
    directory, name = os.path.split(path)
    _remove_leftovers(directory, name)
    temp = os.path.join(directory, f".{name}.{os.getpid()}.{next(_counter)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            with contextlib.suppress(FileNotFoundError):
                os.chmod(temp, os.stat(path).st_mode & 0o7777)
        finally:
            os.close(fd)
        os.replace(temp, path)
        _sync_directory(directory or ".")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        raise


def _sync_directory(directory: str) -> None:
    """Make a rename in ``directory`` survive a power loss too."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # a platform or file system without directory descriptors
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_leftovers(path: str) -> None:
    """Remove the temporary files that killed writers left beside ``path`` (under the
    store's lock)."""
    _remove_leftovers(*os.path.split(path))


def _remove_leftovers(directory: str, name: str) -> None:
    prefix = f".{name}."
    with os.scandir(directory or ".") as entries:
        for entry in entries:
            if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(entry.path)


def is_denied(error: OSError) -> bool:
    """Whether an error means "you may read this, not write it": permissions, or a
    read-only file system."""
    return isinstance(error, PermissionError) or error.errno == errno.EROFS
