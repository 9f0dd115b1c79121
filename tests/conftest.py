"""Shared fixtures: a real PostgreSQL server for the session, started on first use.

``postgres_url`` starts one throwaway server (see ``pgserver.py``) the first time a test
asks for it and stops it at the end of the session. Where no server can start, the
tests that need it skip with the reason, unless ``STET_REQUIRE_POSTGRES=1`` (CI sets
it): then they fail. ``postgres_store`` is a store URL with a table of its own per test.

Under pytest-xdist (pyproject's addopts) a session is one worker process, so each worker
starts a server of its own on a free port. One per worker rather than one shared: a
server costs about two seconds to start, needs no lock or hand-over between workers, and
a test that terminates a backend or fills the connection limit cannot reach into
another worker's tests. ``tmp_path`` is unique per worker and test too.

``slurm_cluster`` does the same for SLURM (``slurmcluster.py``): a one-node cluster of
its own per worker, on first use, failing instead of skipping when
``STET_REQUIRE_SLURM=1``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pgserver
import probes
import pytest
import slurmcluster
from formats import FORMATS


@pytest.fixture(params=FORMATS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store of each format: a file path, or a PostgreSQL URL with its own table.

    (Test files with stores of their own layout define their own ``location``.)
    """
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_store"))
    return str(tmp_path / f"runs.{request.param}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pgserver.Server]:
    """The session's PostgreSQL server (skips, or fails in CI, when none can start)."""
    server, reason = pgserver.start()
    if server is None:
        if os.environ.get("STET_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"STET_REQUIRE_POSTGRES=1, and {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[slurmcluster.Cluster]:
    """The session's throwaway SLURM cluster (skips, or fails in CI, when none can start)."""
    cluster, reason = slurmcluster.start()
    if cluster is None:
        if os.environ.get("STET_REQUIRE_SLURM") == "1":
            pytest.fail(f"STET_REQUIRE_SLURM=1, and {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: pgserver.Server) -> str:
    """``postgresql://stet:<password>@127.0.0.1:<port>/stet``."""
    return postgres_server.url


@pytest.fixture
def postgres_store(postgres_url: str) -> str:
    """A store URL whose table no other test uses."""
    separator = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{separator}table=t_{secrets.token_hex(6)}"


@pytest.fixture(autouse=True)
def _no_holder_left() -> Iterator[None]:
    """A test that fails while a holder waits at its gate must not leave it running."""
    yield
    while probes.HOLDERS:
        probes.HOLDERS.pop().kill_session()
