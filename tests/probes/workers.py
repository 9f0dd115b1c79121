"""Worker functions and process drivers for test_crash.py and test_concurrency.py.

Everything here is importable so that ``spawn`` workers and fresh interpreters find it
(see ``probes``): a test starts a driver with
``Driver("from probes import workers; workers.<driver>(...)", directory)``.

The module-level decorated functions record into the store named by the environment
variable ``STET_TEST_STORE`` (read once, at import, like any decorated module). Every
execution of a function body appends one line ``<pid> <function> <argument>`` to the
file named by ``STET_TEST_LOG``, with its own ``write``, so a test can count executions
across processes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from types import FrameType
from typing import Any

import stet
from probes import note

STORE = os.environ.get("STET_TEST_STORE", "_stet_test_store.csv")


def executed(function: str, argument: object) -> None:
    log = os.environ.get("STET_TEST_LOG")
    if log:
        note(log, f"{os.getpid()} {function} {argument}")


@stet.once(store=STORE, verbose=False)
def point(i: int) -> int:
    executed("point", i)
    return 2 * i


@stet.once(store=STORE, verbose=False)
def slow_point(i: int) -> int:
    executed("slow_point", i)
    time.sleep(0.001)
    return i


@stet.once(store=STORE, verbose=False)
def labelled(i: int, label: str = "x") -> str:
    executed("labelled", i)
    return f"{label}{i}"


class Refused(Exception):
    """The exception ``refuse_odd`` raises; keeps its argument through pickling."""

    def __init__(self, i: int) -> None:
        super().__init__(f"refused {i}")
        self.i = i

    def __reduce__(self) -> tuple[type[Refused], tuple[int]]:
        return (Refused, (self.i,))


@stet.once(store=STORE, verbose=False)
def refuse_odd(i: int) -> int:
    executed("refuse_odd", i)
    if i % 2:
        raise Refused(i)
    return i


# -- drivers: each runs as the main code of a fresh interpreter


def _child(body: Callable[[], None]) -> None:
    """Run ``body`` in a forked child and leave with its outcome, never returning."""
    code = 1
    try:
        body()
        code = 0
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _wait(pid: int) -> int:
    """The exit code of a forked child (the test's timeout guards a hang)."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def sweep_functions(store: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The two functions of test_crash.py's sweep, sharing one store."""

    @stet.once(store=store, verbose=False)
    def cell(i: int, x: float) -> float:
        executed("cell", i)
        return i * x

    @stet.once(store=store, verbose=False)
    def summary(block: int) -> int:
        executed("summary", block)
        return block

    return cell, summary


def crash_sweep(store: str, returned: str, cells: int, per_block: int) -> None:
    """The sweep test_crash.py kills again and again, and restarts each time.

    Right after each call returns, notes it in the file ``returned`` with its own write.
    """
    cell, summary = sweep_functions(store)
    for i in range(cells):
        cell(i, i / 10)
        note(returned, f"cell {i}")
        if i % per_block == per_block - 1:
            summary(i // per_block)
            note(returned, f"summary {i // per_block}")


def concurrent_sweep(go: str, function: str, count: int) -> None:
    """Say ready (a line in ``<go>.ready``), wait for the file ``go``, then call
    ``function`` over the whole grid."""
    target = {"point": point, "slow_point": slow_point, "labelled": labelled}[function]
    note(go + ".ready", str(os.getpid()))
    while not os.path.exists(go):
        time.sleep(0.0005)
    for i in range(count):
        target(i)


def pool_sweep(method: str, count: int, done_first: int) -> None:
    """Record some points here, map the whole grid over a pool, then call it again here.

    Prints nothing; fails (exit code 1) when a result is not what stet promises.
    """
    for i in range(done_first):
        assert point(i) == 2 * i
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        results = list(pool.map(point, range(count), chunksize=3))
    expected = [None] * done_first + [2 * i for i in range(done_first, count)]
    assert results == expected, results
    again = [point(i) for i in range(count)]
    assert again == [None] * count, again  # the parent sees every worker's record


def pool_refusals(method: str, count: int) -> None:
    """Map ``refuse_odd`` over a pool: odd points raise and stay undone, across processes."""
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = [pool.submit(refuse_odd, i) for i in range(count)]
        for i, future in enumerate(futures):
            error = future.exception(timeout=60)
            if i % 2:
                assert type(error) is Refused, repr(error)
                assert error.i == i and error.args == (f"refused {i}",), repr(error)
            else:
                assert error is None and future.result() == i, repr(error)
    for i in range(count):  # here too: even points skip, odd ones run and raise again
        try:
            result = refuse_odd(i)
        except Refused as error:
            assert i % 2 and error.i == i
        else:
            assert not i % 2 and result is None, (i, result)


def fork_sweep(parent_points: int, child_points: int) -> None:
    """A raw ``os.fork`` child records while its parent records too."""
    assert point(0) == 0  # the parent has the store open before it forks
    pid = os.fork()
    if pid == 0:
        _child(lambda: [point(i) for i in range(1000, 1000 + child_points)])
    for i in range(1, 1 + parent_points):
        assert point(i) == 2 * i
    assert _wait(pid) == 0
    assert [point(i) for i in range(1000, 1000 + child_points)] == [None] * child_points


# -- pausing a thread at a named instant inside stet, with the profiling hook

PAUSE_POINTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # Store.record (its _append) holds the store's lock and is about to write its line
    "before-write": ("call", "append", ("_append",)),
    # the line is written; the store has not yet moved its offset past it
    "after-write": ("return", "append", ("_append",)),
    # the offset is past the line; the key is not yet in the in-memory index
    "before-index": ("c_call", "add", ("_append",)),
    # an empty store: the owner file is written, the CSV file not yet created
    "start": ("call", "rewrite", ("_start",)),
    # a second function widens the header: the new file is complete under a temporary
    # name, not yet renamed over the store
    "before-rename": ("c_call", "replace", ("*", "_widen")),
    # a refresh (of a process that found no store file) is about to open the file,
    # which another process may create meanwhile
    "refresh-open": ("c_call", "open", ("*", "_refresh")),
}


def pause_at(where: str, paused: threading.Event, release: threading.Event) -> None:
    """Make the calling thread stop at the instant ``where`` until ``release`` is set.

    ``where`` names (event, function, callers): the profiling event of a call to
    ``function`` (a C function for ``c_call``) made from ``callers``, each called by the
    next; the first caller makes the call itself, unless the callers start with ``*``
    (then they are somewhere further up the stack). ``sys.setprofile`` sees every call
    of this thread only: a real pause at a real point of the real code, nothing
    replaced. If stet's code changes so that the instant is never reached, the test
    fails saying so; update PAUSE_POINTS then.
    """
    wanted_event, wanted_name, callers = PAUSE_POINTS[where]

    def inside(frame: FrameType | None) -> bool:
        names: list[str] = []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        if callers[0] != "*":
            return tuple(names[: len(callers)]) == callers
        chain = callers[1:]
        return any(tuple(names[k : k + len(chain)]) == chain for k in range(len(names)))

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event != wanted_event:
            return
        if event == "c_call":  # frame is the caller's; arg the C function
            hit = getattr(arg, "__name__", "") == wanted_name and inside(frame)
        else:  # frame is the called function's own
            hit = frame.f_code.co_name == wanted_name and inside(frame.f_back)
        if hit:
            sys.setprofile(None)
            paused.set()
            release.wait(60)

    sys.setprofile(hook)


def fork_while_recording(where: str, child_key: int) -> None:
    """Fork while another thread of this process is paused mid-record, holding the lock.

    The paused thread records point 7; the child records point ``child_key`` (7 too, or
    another) while the parent still holds the lock, then the parent lets its thread go.
    """
    assert point(0) == 0  # the store exists and is open in this process
    paused, release = threading.Event(), threading.Event()

    def recorder() -> None:
        pause_at(where, paused, release)
        point(7)

    thread = threading.Thread(target=recorder)
    thread.start()
    if not paused.wait(30):
        release.set()
        raise AssertionError(f"the thread never reached {where} inside Store.record")
    pid = os.fork()
    if pid == 0:
        _child(lambda: point(child_key))
    release.set()
    thread.join(60)
    assert not thread.is_alive()
    assert _wait(pid) == 0
    assert point(7) is None and point(child_key) is None


def appear_while_open(ready: str, go: str, where: str) -> None:
    """Open the store before its file exists; another process creates it meanwhile.

    The other process records ``refuse_odd`` 0 and 2 between ``<ready>`` (written by
    this process) and ``<go>`` (written by the test). ``where`` is ``between-calls``
    (this process is between two calls then) or a pause point, such as
    ``refresh-open``, where this process is stopped inside its next call.
    """
    with contextlib.suppress(Refused):
        refuse_odd(1)  # opens the store, where there is no file yet; records nothing
    paused, release = threading.Event(), threading.Event()

    def relay() -> None:
        if where != "between-calls" and not paused.wait(30):
            return
        note(ready, "stopped")
        deadline = time.monotonic() + 60
        while not os.path.exists(go) and time.monotonic() < deadline:
            time.sleep(0.005)
        release.set()

    threading.Thread(target=relay, daemon=True).start()
    if where == "between-calls":
        release.wait(60)
    else:
        pause_at(where, paused, release)
    done = refuse_odd(2)
    assert paused.is_set() or where == "between-calls", f"never stopped at {where}"
    assert done is None, f"refuse_odd(2) ran again, returning {done}"
    assert refuse_odd(4) == 4


def hang_at(where: str, ready: str, fork_child: bool) -> None:
    """Stop for good at the instant ``where`` inside stet; the test kills this process there.

    First records points 0 and 1 (not for ``start``, which needs an empty store). With
    ``fork_child``, then forks an idle child that, once the file ``<ready>.go`` exists,
    records point 5 and writes ``<ready>.done``. Once stopped, writes ``<ready>``: this
    process's pid and the child's.
    """
    if where != "start":
        assert point(0) == 0 and point(1) == 2
    child = 0
    if fork_child:
        child = os.fork()
        if child == 0:

            def later() -> None:
                while not os.path.exists(ready + ".go"):
                    time.sleep(0.005)
                assert point(5) == 10
                note(ready + ".done", "recorded")

            _child(later)
    paused, release = threading.Event(), threading.Event()

    def announce() -> None:
        if paused.wait(30):
            note(ready, f"{os.getpid()} {child}")

    threading.Thread(target=announce, daemon=True).start()
    pause_at(where, paused, release)
    if where == "before-rename":
        refuse_odd(2)  # a second function in the store: its first record widens the header
    else:
        point(2)
    raise AssertionError(f"never stopped at {where}")


def threads_sweep(store: str, threads: int, count: int) -> list[str]:
    """Many threads of one process call two functions of one store over one grid."""

    @stet.once(store=store, verbose=False)
    def left(i: int) -> int:
        return i

    @stet.once(store=store, verbose=False)
    def right(j: int, tag: str = "r") -> int:
        return j

    errors: list[str] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            start.wait(30)
            order = list(range(count))
            random.Random(n).shuffle(order)
            for i in order:
                (left if n % 2 else right)(i)
        except BaseException:
            errors.append(traceback.format_exc())

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(120)
    return errors + [f"{t.name} still running" for t in workers if t.is_alive()]


# -- the tests' side: starting drivers and reading what they leave behind
