"""A run's own directory (``@stet.once(outputs="data")``), committed with its record.

The body writes into a staging directory, ``data/.stet-staging/<function>/<run>~...``,
which :func:`output_dir` gives it. When the body returns, ``_stet_run.json`` is written
into it, it is renamed into place (``data/<function>/<run>/``) and only then is the run
recorded. ``kill -9`` at any instant leaves either a recorded run with its complete
directory, or no record; a directory no record vouches for is never read as a result:

* a staging directory of a worker that died is moved aside to
  ``data/.stet-interrupted/<time>/`` when its run runs again (its claim is then this
  worker's, so nobody else writes it), and at a process's first run for those of dead
  processes of this machine;
* a directory in place whose record never landed (killed between the rename and the
  record) is moved aside the same way when its run runs again;
* a run that raises leaves nothing in place: its staging directory is removed, or with
  ``failures="record"`` moved aside to ``data/.stet-failed/<time>/`` and named in the
  failure record.

Nothing is deleted but the staging directory of a run that raised without
``failures="record"``.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import json
import math
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from ._columns import now_text
from ._errors import OutputsNotWritableError
from ._outputpaths import (
    STAGING,
    aside_stamp,
    function_dir_name,
    output_cell,
    rename_to_free_name,
    run_dir_name,
    set_aside_path,
)
from ._values import text_of_cell, value_of_cell

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._values import Cell

__all__ = ["RUN_FILE", "Outputs", "Staged", "enter", "leave", "output_dir"]

RUN_FILE = "_stet_run.json"
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "stet_output_dir", default=None
)


def output_dir() -> Path:
    """The directory of the run whose body runs now, to write its outputs into.

    Only inside the body of a ``@stet.once(outputs=...)`` function (in its own thread or
    task: a thread the body starts gets the path from the body). Files written there are
    put in place with the run's record, atomically: see the how-to on outputs.

    Raises:
        RuntimeError: outside the body of a run that has outputs.
    """
    directory = _current.get()
    if directory is None:
        raise RuntimeError(
            "stet.output_dir() is called outside the body of a run that has outputs; call "
            'it inside a function decorated with @stet.once(outputs="data") while it runs '
            "(a thread it starts does not inherit it: pass the path on)"
        )
    return Path(directory)


def enter(staged: Staged | None) -> contextvars.Token[str | None] | None:
    """Before a body runs: :func:`output_dir` gives its staging directory."""
    return None if staged is None else _current.set(staged.directory)


def leave(token: contextvars.Token[str | None] | None) -> None:
    """After the body: :func:`output_dir` gives what it gave before."""
    if token is not None:
        _current.reset(token)


@dataclass(slots=True)
class Staged:
    """A run's directory while its body runs, and where it goes when it returns."""

    directory: str  # the staging directory: where the body writes
    final: str  # where it is put in place
    inside: str  # <function>/<run>: its path below the outputs directory
    cell: str  # the record's _stet_output cell once it is in place
    started: str  # when the run started (ISO 8601, UTC)
    parameters: dict[str, object]  # for _stet_run.json

    @property
    def staging(self) -> Path:
        """The staging directory, as the body gets it."""
        return Path(self.directory)


_host = socket.gethostname()
_swept: set[tuple[int, str]] = set()  # (process, outputs directory) swept at a first run


class Outputs:
    """One function's outputs directory: staging, commit, and setting aside."""

    def __init__(
        self, root: str, function: str, store_path: str, store_name: str, fsync: bool
    ) -> None:
        self.root = root
        self.function = function
        self.fsync = fsync
        self.function_dir = function_dir_name(function)
        self._cell_prefix = output_cell(store_path, os.path.join(root, self.function_dir))
        self.store = store_name  # as messages show it (a URL without its password)
        # a staging directory's name says which store's run it holds: two stores may
        # share one outputs directory, and neither touches the other's runs
        self.store_id = hashlib.sha256(store_name.encode()).hexdigest()[:8]
        self._staging_dir = os.path.join(root, STAGING, self.function_dir)
        self._writable = False
        self._made = 0  # the process that made the staging and function directories

    def write_problem(self) -> str | None:
        """Why this process could not make a run's directory, or None (checked until
        found writable)."""
        if self._writable:
            return None
        path = self.root
        while not os.path.isdir(path) and os.path.dirname(path) != path:
            if os.path.lexists(path):
                return f"{path} is a file, not a directory"
            path = os.path.dirname(path)  # made at the first run: its nearest parent
        if not os.access(path, os.W_OK | os.X_OK):
            return f"this user may not write {path}"
        self._writable = True
        return None

    def refuse(self, label: str, problem: str) -> OutputsNotWritableError:
        return OutputsNotWritableError(
            f"{label}() did not run: stet could not make its output directory in "
            f"{self.root}, as {problem}. Give @stet.once(outputs=...) a directory this "
            "user can write, or ask for write access."
        )

    def make_root(self, label: str) -> None:
        """Make the outputs directory (a sweep, before its runs go to its workers)."""
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as error:
            why = (error.strerror or "it cannot be made").lower()
            raise self.refuse(label, f"{why}: {error.filename}") from None

    def check_reachable(self, label: str) -> None:
        """In a sweep's worker: the outputs directory the sweep made must be there, or
        the worker is on a machine that does not share it."""
        if not os.path.isdir(self.root):
            raise FileNotFoundError(
                errno.ENOENT,
                f"{label}() did not run on {_host}: the outputs directory the sweep made "
                "is not there. A sweep's outputs need a directory every worker reaches "
                "(a shared file system); give @stet.once(outputs=...) one",
                self.root,
            )

    def begin(self, label: str, cells: Mapping[str, Cell], key: bytes) -> Staged:
        """A fresh staging directory for a claimed run, after setting aside what an
        earlier, killed attempt of it left."""
        run = run_dir_name(cells, key)
        inside = f"{self.function_dir}/{run}"
        final = os.path.join(self.root, self.function_dir, run)
        try:
            if (os.getpid(), self.root) not in _swept:
                self._sweep_dead_processes()
            if self._made != os.getpid():  # once per process (a reset may remove them)
                os.makedirs(self._staging_dir, exist_ok=True)
                function_dir = os.path.dirname(final)
                os.makedirs(function_dir, exist_ok=True)
                if not os.access(function_dir, os.W_OK | os.X_OK):  # made by another user
                    raise PermissionError(errno.EACCES, "permission denied", function_dir)
                self._made = os.getpid()
            parameters = {column: _json_value(cell) for column, cell in cells.items()}
            self._set_aside_leftovers(run, inside, final, parameters)
            token = f"{self.store_id}~{_host}~{os.getpid()}~{os.urandom(4).hex()}"
            staging = os.path.join(self._staging_dir, f"{run}~{token}")
            os.mkdir(staging)
        except PermissionError as error:
            why = (error.strerror or "permission denied").lower()
            raise self.refuse(label, f"{why}: {error.filename}") from None
        cell = f"{self._cell_prefix}/{run}"
        return Staged(staging, final, inside, cell, now_text(), parameters)

    def _set_aside_leftovers(
        self, run: str, inside: str, final: str, parameters: dict[str, object]
    ) -> None:
        """What killed attempts of this run left: their staging directories, and a
        directory in place that no record vouches for (this worker holds the claim)."""
        prefix = f"{run}~{self.store_id}~"
        try:
            with os.scandir(self._staging_dir) as entries:
                leftovers = [e.path for e in entries if e.name.startswith(prefix)]
        except FileNotFoundError:  # removed meanwhile (the whole outputs directory)
            os.makedirs(self._staging_dir, exist_ok=True)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            leftovers = []
        for path in leftovers:  # another process's first run may set it aside first
            self._set_aside_if_there(path, inside)
        if os.path.lexists(final):
            other, theirs = _run_of(final)
            if other == self.store and theirs is not None and theirs != parameters:
                raise FileExistsError(
                    errno.EEXIST,
                    f"the output directory of this run holds another run of this store "
                    f"({theirs}), which stet leaves alone: their names coincide (a file "
                    "system that ignores case?); give this function another outputs "
                    "directory, or tell the runs apart by a key parameter",
                    final,
                )
            if other is not None and other != self.store:
                raise FileExistsError(
                    errno.EEXIST,
                    f"the output directory of this run holds a run of another store "
                    f"({other}), which stet leaves alone; give each store its own outputs "
                    "directory (@stet.once(outputs=...))",
                    final,
                )
            self.set_aside(final, "interrupted", inside)

    def _sweep_dead_processes(self) -> None:
        """Once per process: set aside the staging directories of dead processes of
        this machine (those of other machines go when their run runs again)."""
        _swept.add((os.getpid(), self.root))
        top = os.path.join(self.root, STAGING)
        try:
            functions = os.listdir(top)
        except FileNotFoundError:
            return
        for function in functions:
            try:
                with os.scandir(os.path.join(top, function)) as entries:
                    names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                run, _, host, pid, _ = (name.split("~") + [""] * 5)[:5]
                if host == _host and pid.isdigit() and not _alive(int(pid)):
                    path = os.path.join(top, function, name)
                    self._set_aside_if_there(path, f"{function}/{run}")

    def commit(self, staged: Staged) -> bool:
        """Put a run's directory in place (after its ``_stet_run.json``); False when a
        directory is in place there already."""
        staging = staged.directory
        facts = {
            "function": self.function,
            "store": self.store,
            "parameters": staged.parameters,
            "started": staged.started,
            "completed": now_text(),
            "host": _host,
            "pid": os.getpid(),
        }
        # one fact a line, by the C encoder (the indenting encoder is pure Python)
        text = json.dumps(facts, ensure_ascii=False, separators=(",\n  ", ": "))
        data = ("{\n  " + text[1:-1] + "\n}\n").encode()
        path = os.path.join(staging, RUN_FILE)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)
        if self.fsync:  # every file, the run file too, and the directories
            _fsync_tree(staging)
        try:
            try:
                os.rename(staging, staged.final)
            except FileNotFoundError:  # the function's directory was removed meanwhile
                os.makedirs(os.path.dirname(staged.final), exist_ok=True)
                os.rename(staging, staged.final)
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return False
            raise
        if self.fsync:
            _fsync_directory(os.path.dirname(staged.final))
        return True

    def discard(self, staged: Staged) -> None:
        """A run that raised: its staging directory goes."""
        shutil.rmtree(staged.directory, ignore_errors=True)

    def set_aside(self, path: str | Path, reason: str, inside: str) -> str:
        """Move a directory to ``<root>/.stet-<reason>/<time>/<inside>``; its new path."""
        target = set_aside_path(self.root, reason, aside_stamp(), inside)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        return rename_to_free_name(path, target)

    def _set_aside_if_there(self, path: str, inside: str) -> None:
        """Set a killed attempt's directory aside as interrupted, unless another process
        (the first run of every worker of a sweep looks) did so first."""
        target = set_aside_path(self.root, "interrupted", aside_stamp(), inside)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            rename_to_free_name(path, target)
        except FileNotFoundError:
            if os.path.lexists(path):
                raise
            with contextlib.suppress(OSError):  # what was made for it, while empty
                os.removedirs(os.path.dirname(target))

    def failure_cell(self, store_path: str, aside: str) -> str:
        """The ``_stet_output`` cell of a failure record whose directory is ``aside``."""
        return output_cell(store_path, aside)


def _json_value(cell: Cell) -> object:
    """A key cell as ``_stet_run.json`` shows it: the value where JSON has it, else
    the store's text."""
    value = value_of_cell(cell)
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float and math.isfinite(value):
        return value
    return text_of_cell(cell)


def _run_of(directory: str) -> tuple[str | None, dict[str, object] | None]:
    """The store and parameters a run directory's ``_stet_run.json`` names (None for
    what it does not name)."""
    try:
        with open(os.path.join(directory, RUN_FILE), encoding="utf-8") as file:
            facts = json.load(file)
    except (OSError, ValueError):
        return None, None
    if not isinstance(facts, dict):
        return None, None
    store, parameters = facts.get("store"), facts.get("parameters")
    return (
        store if isinstance(store, str) else None,
        parameters if isinstance(parameters, dict) else None,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _fsync_tree(top: str) -> None:
    """fsync every file and directory below ``top`` (``fsync=True``)."""
    for directory, _, files in os.walk(top):
        for name in files:
            descriptor = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        _fsync_directory(directory)


def _fsync_directory(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
