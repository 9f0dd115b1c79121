"""Runs with outputs (``@stet.once(outputs=...)``) for the crash and worker tests.

``simulate(i)`` writes ``PARTS`` files of known bytes into ``stet.output_dir()`` and
appends ``<pid> start|done <i>`` to a log with single ``O_APPEND`` writes, so a test
counts executions and tells a complete file from a half-written one.

``hang(store, data, log, step, ready, grid, at)`` sweeps ``range(grid)`` and, in the run
``i == at``, stops at ``step`` for good: it writes ``<ready>`` (its pid) and sleeps,
and the test kills it with SIGKILL. The step is reached by wrapping stet's own code in
this process only (the real function runs first, or the body stops itself): the files,
the store and the kill are real.

``STEPS``: ``begun`` (staging directory made, body not started), ``body`` (one part
written, the next half written), ``before-rename`` (``_stet_run.json`` written, the
rename not made), ``after-rename`` (directory in place, no record), ``after-record``
(record appended, claim not released), ``after-release`` (``Store.record`` returned).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

import stet
from probes import note

PARTS = 3
PART_SIZE = 64 * 1024
STEPS = ("begun", "body", "before-rename", "after-rename", "after-record", "after-release")
NAME = "simulate"


def payload(i: int, part: int) -> bytes:
    """The bytes of part ``part`` of run ``i`` (a test tells a whole file from a torn one)."""
    seed = hashlib.sha256(f"{i}/{part}".encode()).digest()
    return (seed * (PART_SIZE // len(seed) + 1))[:PART_SIZE]


_pace = {"seconds": 0.0}  # how long each body waits (workers overlap)
_pause: dict[str, Any] = {"step": None, "at": None, "ready": None, "current": None}


def _stop_here(step: str) -> None:
    """Stop this process for good at ``step`` of the run ``at`` (signals the test)."""
    if _pause["step"] != step or _pause["current"] != _pause["at"]:
        return
    ready = _pause["ready"]
    note(ready + ".tmp", str(os.getpid()))
    os.rename(ready + ".tmp", ready)
    go = ready + ".go"
    while not os.path.exists(go):  # the test kills us here (or, with a go file, lets us on)
        time.sleep(0.005)
    _pause["step"] = None


def function(
    store: str,
    data: str,
    log: str,
    *,
    fsync: bool = False,
    failures: str | None = None,
    lease: float = 60.0,
) -> Callable[..., int | None]:
    """The swept function: ``simulate(i, tag="t")`` with its outputs in ``data``."""

    @stet.once(
        store=store,
        outputs=data,
        verbose=False,
        name=NAME,
        results=True,
        fsync=fsync,
        failures=failures,  # type: ignore[arg-type]
        lease=lease,
    )
    def simulate(i: int, tag: str = "t") -> int:
        note(log, f"{os.getpid()} start {i}")
        _pause["current"] = i
        _stop_here("begun")
        directory = stet.output_dir()
        for part in range(PARTS):
            data_bytes = payload(i, part)
            with open(directory / f"part{part}.bin", "wb") as out:
                if part == 1 and _pause["step"] == "body" and _pause["at"] == i:
                    out.write(data_bytes[: PART_SIZE // 2])
                    out.flush()
                    _stop_here("body")
                    data_bytes = data_bytes[PART_SIZE // 2 :]
                out.write(data_bytes)
        writers = os.fspath(directory / "writers.log")
        note(writers, str(os.getpid()))
        time.sleep(_pace["seconds"])
        with open(writers) as written:  # no other worker writes this directory
            assert written.read().split() == [str(os.getpid())], f"run {i}: shared directory"
        if tag == "fail":
            raise ValueError(f"run {i} fails on purpose")
        note(log, f"{os.getpid()} done {i}")
        return 2 * i

    return simulate


def install_pauses() -> None:
    """Wrap stet's steps (in this process only) so that they stop where asked."""
    from stet import _outputs, _store

    commit = _outputs.Outputs.commit
    append, record = _store.Store._append, _store.Store.record
    rename = os.rename

    def paused_rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if f"{os.sep}.stet-staging{os.sep}" in os.fspath(src) and ".stet-" not in os.fspath(dst):
            _stop_here("before-rename")
        rename(src, dst, *args, **kwargs)

    def paused_commit(self: Any, *args: Any, **kwargs: Any) -> bool:
        done = commit(self, *args, **kwargs)
        _stop_here("after-rename")
        return done

    def paused_append(self: Any, *args: Any, **kwargs: Any) -> bool:
        done = append(self, *args, **kwargs)
        _stop_here("after-record")
        return done

    def paused_record(self: Any, *args: Any, **kwargs: Any) -> bool:
        done = record(self, *args, **kwargs)
        _stop_here("after-release")
        return done

    os.rename = paused_rename
    _outputs.Outputs.commit = paused_commit  # type: ignore[method-assign]
    _store.Store._append = paused_append  # type: ignore[method-assign]
    _store.Store.record = paused_record  # type: ignore[method-assign]


def hang(
    store: str,
    data: str,
    log: str,
    step: str,
    ready: str,
    grid: int,
    at: int,
    lease: int = 60,
    fsync: int = 0,
) -> None:
    """Sweep ``range(grid)``, stopping at ``step`` of run ``at`` until ``<ready>.go``
    exists (the test kills it there, or lets it on); claims of ``lease`` seconds."""
    assert step in STEPS, step
    _pause.update(step=step, at=at, ready=ready)
    install_pauses()
    simulate = function(store, data, log, lease=lease, fsync=bool(fsync))
    for i in range(grid):
        simulate(i)
    raise AssertionError(f"never stopped at {step} of run {at}")


def sweep(store: str, data: str, log: str, grid: int, first: int = 0) -> None:
    """Call ``simulate(i)`` for ``i`` in ``range(first, grid)``; each returns 2 i or
    None (skipped: its stored result is 2 i)."""
    simulate = function(store, data, log)
    for i in range(first, grid):
        got = simulate(i)
        assert got in (None, 2 * i), (i, got)


def stress_sweep(store: str, data: str, log: str, grid: int) -> None:
    """``simulate`` over ``range(grid)``, each body slowed a little (for random kills)."""
    simulate = function(store, data, log)
    for i in range(grid):
        time.sleep(0.002)
        simulate(i)


def workers_sweep(store: str, data: str, log: str, grid: int, go: str) -> None:
    """One of several processes sweeping one grid at once, started together at ``go``."""
    _pace["seconds"] = 0.003
    simulate = function(store, data, log)
    note(go + ".ready", str(os.getpid()))
    while not os.path.exists(go):
        time.sleep(0.002)
    for _ in range(2):  # a second pass skips what the others did meanwhile
        for i in range(grid):
            simulate(i)


def main(argv: list[str]) -> None:
    """``outputs.main(sys.argv[1:])``: run one of the drivers above by name."""
    drivers: dict[str, Callable[..., None]] = {
        "hang": hang,
        "sweep": sweep,
        "stress_sweep": stress_sweep,
        "workers_sweep": workers_sweep,
    }
    name, *arguments = argv
    drivers[name](*(int(a) if a.isdigit() else a for a in arguments))
