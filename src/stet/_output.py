"""How ``[stet]`` lines reach the user: one write each, and skip lines in streaks.

Skip lines come in streaks: the first ``skip_lines`` of a streak are printed, the rest are
counted and condensed into one line when the streak ends (a call that runs, a call of
another function, ``status``/``reset``, the end of a notebook cell, the next prompt of
the plain REPL, or the process). Their line comes before anything else the program
prints: while skips are being counted, standard output and standard error print it
before they write; a streak that goes on after such output (a loop that skips and
prints) counts its further skips silently, and sums them up when it ends.

The words are :mod:`stet._report`'s: this module only decides when a line is printed.
"""

from __future__ import annotations

import os
import sys
import threading

from ._exit import at_exit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, Literal, Protocol

    class Condense(Protocol):
        """The line that stands for ``hidden`` counted skips of a streak."""

        def __call__(
            self, hidden: int, more: bool, name: str, running: int, failed: int
        ) -> str: ...


__all__ = ["end_streak", "line", "lines", "route_through", "skip"]

_lock = threading.RLock()
_streak_function: str | None = None
_streak_name = ""
_streak_count = 0
_streak_running = 0  # of the streak's skips past its limit, how many were running elsewhere
_streak_failed = 0  # ... and how many had failed before (failures="skip")
_streak_limit = 10
# Other output came after the streak's summary line: it goes on, counted silently, and
# its further skips are summed up ("... more ...") when it ends
_streak_quiet = False
_hooks_installed = False
_condense: Condense | None = None  # the words of the condensed line


def line(text: str) -> None:
    """Print one ``[stet]`` line, ending any skip streak first."""
    end_streak()
    _emit(text)


def lines(texts: Sequence[str]) -> None:
    end_streak()
    for text in texts:
        _emit(text)


def route_through(write: Callable[[str], object] | None) -> None:
    """Print lines with ``write`` (a progress bar's, which keeps the bar below), or again
    to standard output (``None``)."""
    global _write
    _write = write


_write: Callable[[str], object] | None = None


def _emit(text: str) -> None:
    write = _write
    if write is not None:
        write(f"[stet] {text}")
        return
    stdout = sys.stdout
    if isinstance(stdout, _EndsStreak):
        stdout = stdout.stream
    if stdout is not None:  # one write: lines of processes writing at once never mix
        stdout.write(f"[stet] {text}\n")
        stdout.flush()


def skip(
    function: str,
    name: str,
    limit: int,
    why: Literal["done", "running", "failed"],
    text: str,
    condense: Condense,
) -> None:
    """A skipped call of ``function`` (its unique label; ``name`` is how it reads):
    print ``text`` if it is among the first ``limit`` of its streak, else count it.

    ``condense`` words the line that stands for the skips counted.
    """
    global _streak_function, _streak_name, _streak_count, _streak_limit, _streak_running
    global _streak_failed, _streak_quiet, _condense
    _install_hooks()
    with _lock:
        if _streak_function != function:
            _flush_locked()
            _streak_function, _streak_name = function, name
            _streak_count, _streak_limit, _streak_quiet = 0, limit, False
            _condense = condense
        _streak_count += 1
        if _streak_count <= _streak_limit:
            _emit(text)
            return
        if _streak_count == _streak_limit + 1 and not _streak_quiet:  # first one counted
            _watch_streams()
        if why == "running":
            _streak_running += 1
        elif why == "failed":
            _streak_failed += 1


def _condensed(hidden: int) -> str:
    """The line that stands for the ``hidden`` skips of the current streak."""
    assert _condense is not None
    more = bool(_streak_limit or _streak_quiet)
    return _condense(hidden, more, _streak_name, _streak_running, _streak_failed)


def end_streak() -> None:
    """End the current skip streak, condensing what was not printed into one line."""
    with _lock:
        _flush_locked()


def _flush_locked() -> None:
    global _streak_function, _streak_count, _streak_running, _streak_failed, _streak_quiet
    hidden = _streak_count - _streak_limit
    text = _condensed(hidden) if _streak_function is not None and hidden > 0 else None
    _streak_function, _streak_count, _streak_running, _streak_failed = None, 0, 0, 0
    _streak_quiet = False
    _unwatch_streams()
    if text is not None:
        _emit(text)


def _before_output() -> None:
    """The program prints while skips are being counted: their line comes first.

    The streak goes on quietly: the skips that follow, in a loop that also prints, are
    counted, not printed, and summed up when the streak ends.
    """
    global _streak_count, _streak_running, _streak_failed, _streak_limit, _streak_quiet
    with _lock:
        if not _counting():
            return
        text = _condensed(_streak_count - _streak_limit)
        _streak_count, _streak_running, _streak_failed = 0, 0, 0
        _streak_limit, _streak_quiet = 0, True
        _unwatch_streams()
        _emit(text)


def _counting() -> bool:
    """The current streak has skips counted and not printed yet, and other output ends
    that (it has not come since the streak's summary line)."""
    return _streak_function is not None and _streak_count > _streak_limit and not _streak_quiet


class _EndsStreak:
    """A standard stream that, while skips are being counted, prints their line before it
    writes: the condensed line comes before whatever the program prints next.

    It stands in for a stream whose ``write`` cannot be replaced (a plain file object);
    attributes set on it (IPython sets ``write``) stay on it.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> Any:
        if _counting():
            _before_output()
        return self.stream.write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        if _counting():
            _before_output()
        self.stream.writelines(lines)

    def __getattr__(self, name: str) -> Any:
        if name == "stream":  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.stream, name)


_ABSENT: Any = object()
# what _watch_streams changed: (stream, its own "write" before, the write put in its place)
_patched: list[tuple[Any, Any, Any]] = []


def _watch_streams() -> None:
    """Make standard output and standard error print the counted skips' line before
    they write."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, _EndsStreak):
            continue
        own = getattr(stream, "__dict__", None)
        if own is None:  # a plain file object: stand in for it
            setattr(sys, name, _EndsStreak(stream))
            continue
        ending = _ending(stream.write)  # a stream of Python code (a kernel's): wrap its write
        before = own.get("write", _ABSENT)
        try:
            stream.write = ending
        except AttributeError:  # its write cannot be replaced after all
            setattr(sys, name, _EndsStreak(stream))
            continue
        _patched.append((stream, before, ending))


def _ending(write: Callable[..., Any]) -> Callable[..., Any]:
    """``write``, printing the counted skips' line first."""

    def ending(*args: Any, **kwargs: Any) -> Any:
        if _counting():
            _before_output()
        return write(*args, **kwargs)

    return ending


def _unwatch_streams() -> None:
    """Put the streams back, unless the program replaced them meanwhile."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, _EndsStreak):
            setattr(sys, name, stream.stream)
    while _patched:
        stream, before, ending = _patched.pop()
        if vars(stream).get("write") is ending:
            if before is _ABSENT:
                del stream.write
            else:
                stream.write = before


class _Prompt(str):
    """The plain REPL's ``sys.ps1``: the REPL reads its text at every prompt, and so
    ends the skip streak of the statement before."""

    __slots__ = ()

    def __str__(self) -> str:
        end_streak()
        return str.__str__(self)


def _install_hooks() -> None:
    """End streaks at process exit and, under IPython, at the end of every cell; in the
    plain REPL, at its next prompt."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    at_exit(end_streak)
    ipython_module = sys.modules.get("IPython")
    get_ipython = getattr(ipython_module, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    if shell is not None:
        shell.events.register("post_run_cell", lambda *_: end_streak())
    elif hasattr(sys, "ps1") or sys.flags.interactive:
        prompt = getattr(sys, "ps1", ">>> ")
        if type(prompt) is str:
            sys.ps1 = _Prompt(prompt)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)
