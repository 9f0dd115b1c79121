"""The output directories of reset runs: moved aside to ``.stet-reset/<time>/``, or
deleted (``purge``).

A run's directory is ``<outputs>/<function>/<run>``; a failure record's is where it was
set aside, ``<outputs>/.stet-failed/<time>/<function>/<run>``. Either way it goes to
``<outputs>/.stet-reset/<time>/<function>/<run>`` (``~2``, ``~3``, ... when that name is
taken), one ``<time>`` per reset. A directory that is already gone is counted, not an
error; one that cannot be moved stays where it is (no record names it any more: the
next run of its run sets it aside) and is counted with the reason.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import OutputsNotWritableError
from ._outputpaths import aside_stamp, rename_to_free_name, set_aside_path

__all__ = ["Directory", "Done", "check_movable", "directory_of", "move_aside", "purge", "stamp"]

_ASIDE = ".stet-"  # what the name of a directory of set-aside runs starts with


@dataclass(frozen=True, slots=True)
class Directory:
    """A run directory a removed record named: its path, its outputs directory, and its
    path below that (``<function>/<run>``)."""

    path: Path
    root: Path
    inside: str


@dataclass(slots=True)
class Done:
    """What became of the directories: how many moved (or deleted), were already gone,
    or could not be moved (with the first reason); where they went."""

    moved: int = 0
    gone: int = 0
    failed: int = 0
    problem: str | None = None
    places: list[Path] = field(default_factory=list)  # <outputs>/.stet-reset/<time>


def directory_of(path: Path, failure: bool) -> Directory:
    """The run directory at ``path``: a completed run's (``<outputs>/<function>/<run>``),
    or a failure record's (``<outputs>/.stet-<reason>/<time>/<function>/<run>``)."""
    parents = path.parents
    inside = f"{path.parent.name}/{path.name}"
    if failure and len(parents) > 3 and parents[2].name.startswith(_ASIDE):
        return Directory(path, parents[3], inside)
    return Directory(path, parents[1] if len(parents) > 1 else path.parent, inside)


def stamp() -> str:
    """The ``<time>`` of one reset (as the outputs core names set-aside times)."""
    return aside_stamp()


def check_movable(directories: list[Directory], purge: bool, store: str) -> None:
    """Refuse, before any record is removed, when this user could not move (or delete)
    a directory that exists."""
    for directory in directories:
        if not os.path.lexists(directory.path):
            continue
        needed = [directory.path.parent] + ([] if purge else [directory.root])
        for place in needed:
            if not os.access(place, os.W_OK | os.X_OK):
                doing = "delete" if purge else "move aside"
                raise OutputsNotWritableError(
                    f"{store}: stet could not {doing} the output directory "
                    f"{directory.path}, as this user may not write {place}; nothing changed. "
                    "Ask for write access, or reset as the user who ran the sweep.",
                    api="stet.reset",
                )


def move_aside(directories: list[Directory], when: str) -> Done:
    """Move each directory to ``<outputs>/.stet-reset/<when>/<function>/<run>``."""
    done = Done()
    for directory in directories:
        target = set_aside_path(str(directory.root), "reset", when, directory.inside)
        try:
            if not os.path.lexists(directory.path):
                done.gone += 1
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            rename_to_free_name(directory.path, target)
        except OSError as error:
            _failed(done, directory, error)
            continue
        _prune(directory)
        done.moved += 1
        place = Path(set_aside_path(str(directory.root), "reset", when, ""))
        if place not in done.places:
            done.places.append(place)
    return done


def purge(directories: list[Directory]) -> Done:
    """Delete each directory (a symbolic link: the link, not what it points to)."""
    done = Done()
    for directory in directories:
        path = directory.path
        try:
            if not os.path.lexists(path):
                done.gone += 1
                continue
            if path.is_symlink() or not path.is_dir():
                path.unlink()
            else:
                shutil.rmtree(path)
        except OSError as error:
            _failed(done, directory, error)
            continue
        _prune(directory)
        done.moved += 1
    return done


def _prune(directory: Directory) -> None:
    """A set-aside directory's ``<time>/<function>/`` parents, once empty, go too."""
    parent = directory.path.parent
    if (
        parent.parent.parent.name.startswith(_ASIDE)
        and parent.parent.parent.parent == directory.root
    ):
        for empty in (parent, parent.parent):
            try:
                empty.rmdir()
            except OSError:  # not empty, or already gone
                return


def _failed(done: Done, directory: Directory, error: OSError) -> None:
    done.failed += 1
    if done.problem is None:
        why = (error.strerror or str(error)).lower()
        done.problem = f"{directory.path}: {why}"
