"""This process's side of a store's claims: the book every worker shares, and the runs
this process's threads and tasks hold now.

The book sees one worker, this process, so the runs its threads hold are kept here: a
second thread that calls a run the first is running waits for it instead of claiming
it again. Every method but :meth:`release`
and :meth:`running` is called under the store's mutex.
"""

from __future__ import annotations

import contextlib

from ._claims import Claim, Worker, heartbeat
from ._exit import at_exit
from .formats.base import StoreConnectionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from .formats.base import Site

__all__ = ["RunClaims", "claim_key"]

_CLAIM_KEY_LIMIT = 1024  # PostgreSQL's index of claims holds about 2.7 KB of a key


def claim_key(key: bytes) -> bytes:
    """A run's key as claims hold it: a long one (many values, long text) by its digest.

    No key starts with ``#``, so a digest is never another run's key.
    """
    if len(key) <= _CLAIM_KEY_LIMIT:
        return key
    import hashlib

    return b"#" + hashlib.sha256(key).digest()


class RunClaims:
    """The claims of one store's runs, as this process takes and gives them up."""

    def __init__(self, site: Site, mutex: Callable[[], AbstractContextManager[object]]) -> None:
        self._site = site
        self._mutex = mutex  # the store's mutex (a fork replaces it), for the tidy at exit
        # The runs a thread or task of this process holds a claim on now, by (function,
        # key): the book sees one worker, this process, so this is where they differ.
        self._held_here: dict[tuple[str, bytes], Claim] = {}
        self._tidy_at_exit = False

    def take(
        self, function: str, key: bytes, call: str | Callable[[], str], lease: float
    ) -> tuple[Claim | None, Claim | None]:
        """Claim a run for this worker: ``(ours, None)``, or ``(None, holder)`` when a
        thread of this process or another worker holds it."""
        run = (function, claim_key(key))  # as the claim holds it
        here = self._held_here.get(run)
        if here is not None:  # another thread or task of this process runs it
            return None, here
        mine = Claim(run[0], run[1], call, Worker.current(), lease)
        holder = self._site.claims.take(mine)
        if holder is not None:
            return None, holder
        self._held_here[run] = mine
        if not self._tidy_at_exit:
            self._tidy_at_exit = True
            at_exit(self._tidy)
        return mine, None

    def watch(self, claim: Claim, every: float, name: str) -> None:
        """Renew ``claim`` every ``every`` seconds until it is released."""
        heartbeat().watch(self._site.claims, claim, every, name)

    def let_go(self, claim: Claim) -> None:
        """Release ``claim`` in the book; this process holds it no more."""
        try:
            with self._site.lock:
                self._site.claims.release(claim)
        finally:
            self.forget(claim)

    def release(self, claim: Claim) -> None:
        """Give up a claim whose call did not complete, so another worker may run it."""
        heartbeat().forget(claim)
        with self._mutex():
            self.let_go(claim)

    def forget(self, claim: Claim) -> None:
        """Stop renewing ``claim`` and holding it here (its record released it, or it
        lapses with its lease)."""
        heartbeat().forget(claim)
        self._held_here.pop((claim.function, claim.key), None)

    def running(self, function: str | None = None) -> list[Claim]:
        """The live claims of every worker (of one function, if given)."""
        with self._mutex():
            claims = self._site.claims.running()
        return [c for c in claims if function is None or c.function == function]

    def _tidy(self) -> None:
        """At exit: let the site remove what only running calls needed."""
        with self._mutex(), contextlib.suppress(StoreConnectionError):
            self._site.tidy()

    def after_fork(self) -> None:
        """In a forked child: the parent's threads' claims are the parent's."""
        self._held_here = {}
