"""A throwaway PostgreSQL server for tests: ``initdb`` into a temporary directory.

``start()`` makes a cluster with ``initdb``, starts it with ``pg_ctl`` on a free TCP port
of 127.0.0.1 (and a unix socket in the same temporary directory), creates the role
``stet`` with a password and the database ``stet``, and returns a :class:`Server` whose
``url`` is ``postgresql://stet:<password>@127.0.0.1:<port>/stet``. ``stop()`` stops it
and removes the directory.

``initdb`` refuses to run as root: as root, every server command runs as the
``postgres`` user (``runuser``), in a directory that user owns. The server binaries are
looked up on ``PATH``, then in ``/usr/lib/postgresql/*/bin``. ``STET_TEST_POSTGRES_URL``
names an external server instead (then nothing is started or stopped).

The server runs with ``fsync=off``: tests kill clients, never the machine, and a commit
still survives a killed client or a restarted server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
from urllib.parse import quote

__all__ = ["Server", "find_binary", "start"]

ENV_URL = "STET_TEST_POSTGRES_URL"
_TIMEOUT = 60


def find_binary(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    candidates.sort(key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0)
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A running server: its URL, and how to stop, start or restart it."""

    def __init__(
        self,
        url: str,
        directory: str | None = None,
        pg_ctl: str = "",
        run_as: str | None = None,
        port: int = 0,
    ) -> None:
        self.url = url
        self.password = _password_of(url)
        self.directory = directory  # None: an external server, never stopped here
        self._pg_ctl = pg_ctl
        self._run_as = run_as
        self.port = port

    @property
    def data(self) -> str:
        assert self.directory is not None, "an external server"
        return os.path.join(self.directory, "data")

    def _ctl(self, *args: str) -> None:
        command = [self._pg_ctl, "-D", self.data, "-w", "-t", str(_TIMEOUT), *args]
        _run(command, self._run_as)

    def start(self) -> None:
        assert self.directory is not None, "an external server"
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=300"
        )
        self._ctl("-l", os.path.join(self.directory, "server.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect every client at once)."""
        self._ctl("-m", mode, "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        """Stop the server for good and remove its directory."""
        if self.directory is None:
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None


def _password_of(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).password or "")


def _run(command: list[str], run_as: str | None) -> str:
    if run_as is not None:
        if shutil.which("runuser"):
            command = ["runuser", "-u", run_as, "--", *command]
        else:
            command = ["su", run_as, "-s", "/bin/sh", "-c", shlex.join(command)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
    return done.stdout


def start(external: bool = True) -> tuple[Server | None, str]:
    """A running server, or None and the reason there is none.

    ``external``: the server ``STET_TEST_POSTGRES_URL`` names, when it names one.
    """
    external_url = os.environ.get(ENV_URL) if external else None
    if external_url:
        return Server(external_url), ""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        return None, (
            "no PostgreSQL server programs (initdb, pg_ctl) on PATH or in "
            f"/usr/lib/postgresql/*/bin; install them, or set {ENV_URL}"
        )
    run_as = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root, and there is no postgres user to run initdb as"
        run_as = "postgres"
    # As root, a directory the postgres user can reach (TMPDIR may be private to root).
    parent = "/tmp" if run_as is not None and os.path.isdir("/tmp") else None
    directory = tempfile.mkdtemp(prefix="stet-pg-", dir=parent)
    if run_as is not None:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    try:
        return _make(directory, initdb, pg_ctl, run_as), ""
    except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired) as error:
        detail = getattr(error, "stderr", "") or ""
        log_path = os.path.join(directory, "server.log")
        with contextlib.suppress(OSError), open(log_path, encoding="utf-8") as log:
            detail += log.read()[-2000:]
        shutil.rmtree(directory, ignore_errors=True)
        return None, f"cannot start a PostgreSQL server: {error} {detail}".strip()


def _make(directory: str, initdb: str, pg_ctl: str, run_as: str | None) -> Server:
    data = os.path.join(directory, "data")
    _run(
        [initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
        run_as,
    )
    hba = os.path.join(data, "pg_hba.conf")
    with open(hba, "w", encoding="utf-8") as handle:  # a password over TCP, trust on the socket
        handle.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    password = "s3cret@" + secrets.token_hex(8)  # an @ tests the URL's percent-encoding
    url = f"postgresql://stet:{quote(password, safe='')}@127.0.0.1:{{port}}/stet"
    server = Server("", directory, pg_ctl, run_as)
    for attempt in range(3):  # another process may take the free port first
        server.port = _free_port()
        try:
            server.start()
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
    server.url = url.format(port=server.port)
    server.password = password
    _create_role(directory, server.port, password)
    return server


def _create_role(directory: str, port: int, password: str) -> None:
    import psycopg
    from psycopg import sql

    admin = psycopg.connect(
        host=directory, port=port, user="postgres", dbname="postgres", autocommit=True
    )
    with admin:
        admin.execute(sql.SQL("CREATE ROLE stet LOGIN PASSWORD {}").format(sql.Literal(password)))
        admin.execute("CREATE DATABASE stet OWNER stet")
