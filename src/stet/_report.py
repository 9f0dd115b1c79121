"""Every ``[stet] ...`` line the user sees, in one place.

Skip lines come in streaks: the first ``skip_lines`` of a streak are printed, the rest are
counted and condensed into one line when the streak ends (a call that runs, a call of
another function, ``status``/``reset``, the end of a notebook cell, or the process).
"""

from __future__ import annotations

import os
import sys
import threading

from ._exit import at_exit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "confirm",
    "end_streak",
    "line",
    "skipped",
]

_lock = threading.Lock()
_streak_function: str | None = None
_streak_name = ""
_streak_count = 0
_streak_running = 0  # of the streak's skips past its limit, how many were running elsewhere
_streak_failed = 0  # ... and how many had failed before (failures="skip")
_streak_limit = 10
_hooks_installed = False


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
    if stdout is not None:  # one write: lines of processes writing at once never mix
        stdout.write(f"[stet] {text}\n")
        stdout.flush()


def skipped(
    function: str,
    name: str,
    call: str,
    skip_lines: int,
    running: str | None = None,
    failed: str | None = None,
) -> None:
    """Report a skipped call of ``function`` (its unique label; ``name`` is how it reads).

    ``call`` is how the call reads: ``f(alpha=0.1)``; ``running`` says where the run is
    running now (``node7, pid 4121``) when it was skipped for that, not for being done;
    ``failed`` is the error of its recorded failure when it was skipped for that.
    """
    global _streak_function, _streak_name, _streak_count, _streak_limit, _streak_running
    global _streak_failed
    _install_hooks()
    with _lock:
        if _streak_function != function:
            _flush_locked()
            _streak_function, _streak_name = function, name
            _streak_count, _streak_limit = 0, skip_lines
        _streak_count += 1
        if _streak_count <= _streak_limit:
            if running is not None:
                _emit(f"Skipping {call}: running in another worker ({running})")
            elif failed is not None:
                _emit(f"Skipping {call}: it failed before ({failed})")
            else:
                _emit(f"Skipping {call}")
        elif running is not None:
            _streak_running += 1
        elif failed is not None:
            _streak_failed += 1


def renewal_failed(store: str, error: BaseException, lease: float) -> None:
    """The heartbeat could not renew this process's claims on ``store`` (said once, until
    a renewal there succeeds again)."""
    line(
        f"Could not renew this process's claims on {store} ({type(error).__name__}: {error}); "
        f"stet keeps trying, and renews the claims on other stores meanwhile. A claim not "
        f"renewed for its lease ({lease:g} s) lapses: another worker may then run its run too"
    )


def waiting_for_lock(path: str, patience: float, pid: int | None, stopped: bool) -> None:
    """A wait for a store's lock passed ``patience`` seconds (said once per wait)."""
    if pid is None:
        holder = "another worker holds it (on another machine, or one stet cannot see)"
    elif stopped:
        holder = (
            f"process {pid} of this machine holds it and is stopped (SIGSTOP, a suspended "
            f"job; kill -CONT {pid} lets it go on)"
        )
    else:
        holder = f"process {pid} of this machine holds it"
    line(
        f"Waiting for the lock {path} for over {patience:g} s: {holder}. stet waits until "
        f"it lets go or exits, and never takes the lock from a live process"
    )


def end_streak() -> None:
    """End the current skip streak, condensing what was not printed into one line."""
    with _lock:
        _flush_locked()


def _flush_locked() -> None:
    global _streak_function, _streak_count, _streak_running, _streak_failed
    hidden = _streak_count - _streak_limit
    if _streak_function is not None and hidden > 0:
        noun = "run" if hidden == 1 else "runs"
        more = " more" if _streak_limit else ""
        running, failed = _streak_running, _streak_failed
        done = hidden - running - failed
        if not running and not failed:
            _emit(f"Skipped {hidden:,}{more} completed {noun} of {_streak_name}")
        elif not done and not failed:
            _emit(f"Skipped {hidden:,}{more} {noun} of {_streak_name} running in other workers")
        elif not done and not running:
            _emit(f"Skipped {hidden:,}{more} {noun} of {_streak_name} that failed before")
        else:
            parts = [f"{done:,} completed"] if done else []
            if running:
                parts.append(f"{running:,} running in other workers")
            if failed:
                parts.append(f"{failed:,} failed before")
            _emit(f"Skipped {hidden:,}{more} {noun} of {_streak_name}: {', '.join(parts)}")
    _streak_function, _streak_count, _streak_running, _streak_failed = None, 0, 0, 0


def _install_hooks() -> None:
    """End streaks at process exit and, under IPython, at the end of every cell."""
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


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)


def confirm(question: str, ask: bool | None = None) -> bool:
    """Ask ``question``: always, never (``ask=False``), or on a terminal (``None``)."""
    end_streak()
    stdin = sys.stdin
    if ask is False or (ask is None and (stdin is None or not stdin.isatty())):
        return True
    answer = input(f"[stet] {question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")
