"""A PostgreSQL server for ``parallel.py``: one named by a URL, or a throwaway one started
with ``tests/pgserver.py``; a fresh table per row, and the server's CPU time when this
script started it."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from _harness import ROOT

ENV_URL = "STET_BENCH_POSTGRES_URL"


class Postgres:
    """A PostgreSQL server for the benchmark: a URL, a fresh table per row, and when the
    script started the server itself, the server's CPU time."""

    def __init__(self, url: str, server: Any = None) -> None:
        self.url = url
        self.server = server  # a tests/pgserver.py Server this script started, or None
        self.tables: list[str] = []
        self.idle = self.backends()  # the server's processes while no worker is connected

    def plain_url(self) -> str:
        """The URL without a ``table=``."""
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "table"]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def location(self) -> str:
        """The URL with a ``table=`` of its own."""
        table = f"stet_bench_{secrets.token_hex(6)}"
        self.tables.append(table)
        parts = urlsplit(self.plain_url())
        query = urlencode([*parse_qsl(parts.query), ("table", table)])
        return urlunsplit(parts._replace(query=query))

    def drop_tables(self) -> None:
        """Drop the rows' tables, and every table stet made beside each (``<table>_...``)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.plain_url(), autocommit=True) as con:
            for table in self.tables:
                names = con.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND (tablename = %s OR starts_with(tablename, %s))",
                    (table, f"{table}_"),
                ).fetchall()
                for (name,) in names:
                    con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        self.tables.clear()

    def postmaster(self) -> Any:
        """The server's main process (psutil), when this script started the server."""
        if self.server is None or self.server.directory is None:
            return None
        import psutil  # type: ignore[import-untyped]

        pid_file = Path(self.server.data) / "postmaster.pid"
        return psutil.Process(int(pid_file.read_text().split()[0]))

    def cpu_s(self) -> float | None:
        """The server's CPU time so far: postmaster, live processes, reaped processes."""
        main = self.postmaster()
        if main is None:
            return None
        times = main.cpu_times()
        total = float(times.user + times.system + times.children_user + times.children_system)
        for child in main.children():
            with contextlib.suppress(Exception):  # a process that ended meanwhile
                used = child.cpu_times()
                total += used.user + used.system
        return total

    def backends(self) -> int:
        main = self.postmaster()
        return len(main.children()) if main is not None else 0

    def close(self) -> None:
        if self.server is not None:
            self.server.remove()


def pgserver_module() -> ModuleType:
    path = ROOT / "tests" / "pgserver.py"
    spec = importlib.util.spec_from_file_location("stet_bench_pgserver", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_postgres(url: str | None) -> tuple[Postgres | None, str]:
    """A server to measure against, or None and why there is none."""
    try:
        import stet.formats.postgres  # noqa: F401 (the format, and psycopg)
    except ImportError as error:
        return None, f"the PostgreSQL format cannot be imported ({error})"
    url = url or os.environ.get(ENV_URL)
    if url:
        import psycopg

        from stet.formats import redacted

        try:
            psycopg.connect(Postgres(url).plain_url(), connect_timeout=10).close()
        except psycopg.Error as error:
            detail = (str(error).splitlines() or [type(error).__name__])[0]
            password = urlsplit(url).password
            if password:
                detail = detail.replace(password, "***")
            return None, f"cannot connect to {redacted(url)}: {detail}"
        return Postgres(url), ""
    try:
        pgserver = pgserver_module()
    except (ImportError, OSError) as error:
        return None, f"tests/pgserver.py cannot be loaded ({error})"
    server, reason = pgserver.start()
    if server is None:
        return None, str(reason)
    return Postgres(server.url, server), ""
