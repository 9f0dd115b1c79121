"""Every ``[stet] ...`` line the user sees, in one place: the words of each.

How and when a line is printed (one write, skip lines in streaks that are condensed
into one line) is :mod:`stet._output`'s business; ``line``, ``lines``, ``end_streak``
and ``route_through`` are its own, re-exported here. A sweep's lines are in
:mod:`stet._reportsweep`.
"""

from __future__ import annotations

import sys

from ._output import end_streak, line, lines, route_through, skip
from ._reportoutputs import status_lines as outputs_lines

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = [
    "code_changed",
    "confirm",
    "converted",
    "duration",
    "end_streak",
    "failure_not_recorded",
    "history_lines",
    "line",
    "lines",
    "no_store",
    "nothing_to_clear",
    "nothing_to_remove",
    "plural",
    "progress_line",
    "recorded_elsewhere",
    "renewal_failed",
    "reset_declined",
    "reset_done",
    "reset_question",
    "route_through",
    "running_lines",
    "skipped",
    "status_lines",
    "waiting_for_lock",
]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 cell``, ``3 cells``, ``1,200 runs``: a count and its noun, which agree.

    ``nouns`` is the plural when it is not ``noun`` and an ``s`` (``batch``, ``batches``).
    """
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def no_store(name: str) -> str:
    """What ``status`` says of a store that does not exist (yet)."""
    return f"No store at {name}: nothing recorded yet"


def _runs(count: int) -> str:
    return "1 run was" if count == 1 else f"{count:,} runs were"


def code_changed(name: str, runs: int) -> None:
    """Before a first skip: the runs were recorded by other code of the function."""
    they = "it still counts" if runs == 1 else "they still count"
    line(
        f"{name}'s code has changed since its {_runs(runs)} recorded; {they} as done "
        f"({name}.reset() runs {'it' if runs == 1 else 'them'} again)"
    )


def recorded_elsewhere(
    name: str,
    runs: int,
    store: str,
    files: Sequence[str | None],
    here: str | None,
    code_differs: bool,
) -> None:
    """Before a first skip: the runs were recorded by a function of this name in
    another file (``None``: a notebook or an interactive session)."""
    shown = list(dict.fromkeys(f or "a notebook or interactive session" for f in files))
    where = " and ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
    other = " (with other code)" if code_differs else ""
    line(
        f"{name}: its {_runs(runs)} recorded in {store} by {where}{other}; this call is "
        f"from {here or 'a notebook or interactive session'}, and "
        f"{'it counts' if runs == 1 else 'they count'} as done here too. If this is another "
        'function, give it its own store (@stet.once(store="...")) or name '
        f'(@stet.once(name="...")); {name}.reset() runs {"it" if runs == 1 else "them"} again'
    )


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
    if running is not None:
        skip(
            function,
            name,
            skip_lines,
            "running",
            f"Skipping {call}: running in another worker ({running})",
            _condensed,
        )
    elif failed is not None:
        skip(
            function,
            name,
            skip_lines,
            "failed",
            f"Skipping {call}: it failed before ({failed})",
            _condensed,
        )
    else:
        skip(function, name, skip_lines, "done", f"Skipping {call}", _condensed)


def _condensed(hidden: int, more: bool, name: str, running: int, failed: int) -> str:
    """The line that stands for ``hidden`` skips of a streak of ``name`` that were not
    printed (``more``: some of the streak's were), ``running`` and ``failed`` of them
    skipped for running elsewhere and for failing before."""
    noun = "run" if hidden == 1 else "runs"
    more_ = " more" if more else ""
    done = hidden - running - failed
    if not running and not failed:
        return f"Skipped {hidden:,}{more_} completed {noun} of {name}"
    if not done and not failed:
        return f"Skipped {hidden:,}{more_} {noun} of {name} running in other workers"
    if not done and not running:
        return f"Skipped {hidden:,}{more_} {noun} of {name} that failed before"
    parts = [f"{done:,} completed"] if done else []
    if running:
        parts.append(f"{running:,} running in other workers")
    if failed:
        parts.append(f"{failed:,} failed before")
    return f"Skipped {hidden:,}{more_} {noun} of {name}: {', '.join(parts)}"


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


def duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``4m30s``, ``1h12m``, ``3d4h``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


# -- calls


def failure_not_recorded(call: str, problem: str) -> None:
    """A call raised, and its failure record could not be written."""
    line(f"Could not record the failure of {call}: {problem}")


def converted(count: int, source: str, destination: str) -> None:
    line(f"Converted {plural(count, 'record')} from {source} to {destination}")


# -- status


def status_lines(
    facts: dict[str, Any], function: str | None, progress: str | None, functions: bool
) -> list[str]:
    """What ``stet.status`` prints of a store's facts (as ``status --json`` gives them).

    ``progress`` is a sweep's progress line; ``functions``: list the runs per function.
    """
    count = facts["completed"]
    what = f" of {function}" if function is not None else ""
    shown = [f"Store: {facts['store']}"]
    if progress is not None:
        shown.append(progress)
    shown.append(f"{plural(count, 'completed experiment')}{what} recorded")
    shown += running_lines([(r["host"], r["pid"]) for r in facts["running"]])
    if facts["failed"]:
        shown.append(
            f"{plural(facts['failed'], 'failed run')} not completed since "
            f"(latest error: {facts['latest_error']})"
        )
    shown.append(f"Last run: {facts['last_run'] or 'never'}")
    shown.append(f"Key columns: {', '.join(facts['key_columns']) or '(none)'}")
    if facts["result_columns"]:
        shown.append(f"Result columns: {', '.join(facts['result_columns'])}")
    if functions:
        counts = facts["functions"]
        shown.append("Functions: " + ", ".join(f"{n} ({c:,})" for n, c in counts.items()))
    shown += outputs_lines(facts.get("outputs", {}))
    return shown + history_lines(facts["history"])


def history_lines(history: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The code history of each function whose runs were recorded by several versions,
    oldest first (the fingerprints are in ``status --json``)."""
    shown = []
    for function, versions in history.items():
        shown.append(f"Code history of {function} (its runs per version of its code):")
        for version in versions:
            runs = plural(version["runs"], "run")
            if version["code"] is None:
                shown.append(f"  {runs}: recorded before stet kept a code history")
                continue
            where = version.get("file") or "a notebook or interactive session"
            shown.append(f"  {runs} by its code in {where} from {version['since']}")
    return shown


def running_lines(
    workers: Sequence[tuple[str, int]], hosts_shown: int = 5, pids_shown: int = 8
) -> list[str]:
    """``3 running now: node1 (pids 4121, 4122), node2 (pid 77)``, or nothing.

    ``workers``: the (host, pid) of each live claim.
    """
    if not workers:
        return []
    pids: dict[str, set[int]] = {}
    for host, pid in workers:
        pids.setdefault(host, set()).add(pid)
    parts = []
    for host, numbers in list(pids.items())[:hosts_shown]:
        listed = sorted(numbers)
        shown = ", ".join(map(str, listed[:pids_shown]))
        if len(listed) > pids_shown:
            shown += f" and {len(listed) - pids_shown} more"
        parts.append(f"{host} ({'pid' if len(listed) == 1 else 'pids'} {shown})")
    if len(pids) > hosts_shown:
        parts.append(f"and {plural(len(pids) - hosts_shown, 'more host')}")
    return [f"{len(workers):,} running now: {', '.join(parts)}"]


def progress_line(done: int, total: int, running: int, failed: int, eta: float | None) -> str:
    """``37/220 done (16.8%), 2 running, 1 failed last time, ETA 1h12m``."""
    share = f" ({100 * done / total:.1f}%)" if total else ""
    parts = [f"{done:,}/{total:,} done{share}", f"{running:,} running"]
    if failed:
        parts.append(f"{failed:,} failed last time")
    if eta is not None:
        parts.append(f"ETA {duration(eta)}")
    return ", ".join(parts)


# -- reset


def _removed_noun(count: int, failed: bool) -> str:
    if failed:
        return "failure record" if count == 1 else "failure records"
    return "run" if count == 1 else "runs"


def _of(function: str | None) -> str:
    return f" of {function}" if function is not None else ""


def nothing_to_clear(store: str) -> None:
    """``reset`` of a store that does not exist."""
    line(f"No store at {store}; nothing to clear")


def nothing_to_remove(store: str, described: str, function: str | None, failed: bool) -> None:
    """``reset`` found no record to remove (``described``: the values asked, or "")."""
    noun = _removed_noun(1, failed)
    if described:
        line(f"No {noun} in {store} matches {described}; nothing removed")
    else:
        line(f"No {noun}{_of(function)} in {store}; nothing removed")


def reset_question(
    count: int, store: str, described: str, function: str | None, failed: bool
) -> str:
    """What ``reset`` asks before it removes ``count`` records."""
    noun = _removed_noun(count, failed)
    if described:
        return f"Remove {count:,} {noun} matching {described} from {store}?"
    if failed:
        return f"Remove {count:,} {noun}{_of(function)} from {store}?"
    return f"Clear all {count:,} {noun}{_of(function)} from {store}?"


def reset_declined(full: bool) -> None:
    """The user answered no (``full``: the whole store would have gone)."""
    line("Aborted; nothing changed" if full else "Nothing changed")


def reset_done(
    removed: int, store: str, described: str, function: str | None, failed: bool
) -> None:
    noun = _removed_noun(removed, failed)
    if described:
        line(f"Removed {removed:,} {noun} matching {described} from {store}")
    elif failed:
        line(f"Removed {removed:,} {noun}{_of(function)} from {store}")
    elif function is not None:
        line(f"Cleared {removed:,} {noun}{_of(function)} from {store}")
    else:
        line(f"Store cleared: {store}")


def confirm(question: str, ask: bool | None = None) -> bool:
    """Ask ``question``: always, never (``ask=False``), or on a terminal (``None``)."""
    end_streak()
    stdin = sys.stdin
    if ask is False or (ask is None and (stdin is None or not stdin.isatty())):
        return True
    prompt = f"[stet] {question} [y/N] "
    if stdin is None:  # standard input is closed: no answer can come, as at its end
        if sys.stdout is not None:
            sys.stdout.write(prompt)
        raise EOFError("no standard input to answer on")
    answer = input(prompt)
    return answer.strip().lower() in ("y", "yes")


# Store layout messages


def _earlier(count: int, singular: str, plural: str) -> str:
    return f"1 earlier record {singular}" if count == 1 else f"{count:,} earlier records {plural}"


def key_columns_changed(
    function: str, extra: dict[str, int], lacking: Sequence[tuple[str, int, str | None]]
) -> None:
    """One line per key change between a store's records and the function: a column the
    records hold that is no longer in the key (``extra``: column -> records), a key
    column they lack (``lacking``: column, records, its default's text or None)."""
    texts = []
    for column, count in extra.items():
        they, them = ("it does", "it") if count == 1 else ("they do", "them")
        texts.append(
            f"{function}: {_earlier(count, 'holds', 'hold')} {column}, which is no longer in "
            f"its key; {they} not count as done (put {column} back in the key, or remove "
            f"{them} with stet.reset)"
        )
    for column, count, default in lacking:
        if default is None:
            them = "it" if count == 1 else "them"
            treatment = f"no call matches {them}, as {column} has no default"
        else:
            counted = "it counts as a run" if count == 1 else "they count as runs"
            treatment = f"{counted} with {column}={default}, its default"
        texts.append(
            f"{function}: {_earlier(count, 'lacks', 'lack')} {column}, now in its key; " + treatment
        )
    lines(texts)


def owner_assumed(store: str, function: str) -> None:
    """A store without an owner file: its records are taken as the first function's."""
    line(
        f"{store} does not say which function wrote it; its records are taken as runs of {function}"
    )


def torn_line_set_aside(store: str, where: str) -> None:
    """A torn last line of a line-file store, moved to ``where``."""
    line(
        f"Set aside a torn last line of {store} (a writer stopped mid-write) in {where}; "
        "every complete record is kept"
    )
