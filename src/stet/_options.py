"""The options of ``@stet.once``, checked once when the decorator is made."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ._claims import check_lease
from ._files import store_path
from ._outputpaths import check_outputs
from .formats import is_url, redacted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Options", "options_of"]


@dataclass(frozen=True)
class Options:
    """What ``@stet.once(...)`` was given, checked; see :func:`stet.once` for each."""

    store: str  # as given (a path or URL), for messages and the wrapper's ``store``
    path: str  # the store's absolute path (or its URL), fixed when decorated
    key: Sequence[str] | None
    ignore: Sequence[str] | None
    verbose: bool
    skip_lines: int
    fsync: bool
    claims: bool
    lease: float
    heartbeat: float
    results: bool
    failures: str | None
    name: str | None
    outputs: str | None = None  # the outputs directory's absolute path
    pickle: bool = False  # results no other file kind keeps are pickled (asked by name)


def options_of(
    store: str | os.PathLike[str],
    key: Sequence[str] | None,
    ignore: Sequence[str] | None,
    verbose: bool,
    skip_lines: int,
    fsync: bool,
    claims: bool,
    lease: float,
    heartbeat: float | None,
    results: bool,
    failures: str | None,
    name: str | None,
    outputs: object = None,
    pickle: bool = False,
) -> Options:
    """The checked options, or the ``TypeError`` or ``ValueError`` of the first wrong one."""
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise TypeError(f"@stet.once: name must be a non-empty string, not {name!r}")
    if isinstance(store, str | os.PathLike) and os.fspath(store):
        given = os.fspath(store)
    elif isinstance(store, bytes):  # shown as text, and without a URL's password
        shown = redacted(os.fsdecode(store))
        raise TypeError(f"@stet.once: store must be a str, not bytes: {shown!r}; decode it")
    else:
        raise TypeError(f"@stet.once: store must be a file path or URL, not {store!r}")
    if not isinstance(skip_lines, int) or skip_lines < 0:
        raise ValueError(f"@stet.once: skip_lines must be a whole number >= 0: {skip_lines!r}")
    try:  # fixed now: workers and chdir agree
        path = given if is_url(given) else store_path(given)
    except ValueError as error:
        raise ValueError(f"@stet.once: {error}") from None
    lease, beat = check_lease(lease, heartbeat)
    if failures not in (None, "record", "skip"):
        raise ValueError(
            f"@stet.once: failures must be None (record nothing), 'record' (record a "
            f"failure and retry it on the next call) or 'skip' (record it and skip the "
            f"run from then on), not {failures!r}"
        )
    outputs_path = check_outputs(outputs, path)
    if outputs_path is not None and not claims:
        raise ValueError(
            "@stet.once: outputs= needs claims: with claims=False two workers could run "
            "one run and write one directory. Leave claims on (the default), or keep "
            "outputs in files of your own"
        )
    if pickle and (not results or outputs_path is None):
        raise ValueError(
            "@stet.once: pickle=True pickles results no other file keeps, in the run's "
            "outputs directory, and needs results=True and outputs=: "
            '@stet.once(outputs="data", results=True, pickle=True), or leave pickle off'
        )
    return Options(
        store=given,
        path=path,
        key=key,
        ignore=ignore,
        verbose=verbose,
        skip_lines=skip_lines,
        fsync=fsync,
        claims=bool(claims),
        lease=lease,
        heartbeat=beat,
        results=bool(results),
        failures=failures,
        name=name,
        outputs=outputs_path,
        pickle=bool(pickle),
    )
