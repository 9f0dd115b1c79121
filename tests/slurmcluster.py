"""A throwaway one-node SLURM cluster for tests: munged, slurmctld and slurmd as root.

``start()`` makes a temporary directory with a munge key, a ``slurm.conf`` naming this
host as controller and as its only node (with more CPUs than it has, so that hundreds
of array tasks run at once: ``SlurmdParameters=config_overrides``), starts ``munged``,
``slurmctld`` and ``slurmd`` in the foreground as child processes, waits until the node
is idle, and returns a :class:`Cluster`. Its ``env`` (``SLURM_CONF``) points the client
commands (``sbatch``, ``squeue``, ``scontrol``, ``scancel``, ``srun``) and submitit at
it; jobs inherit it. ``stop()`` cancels every job, stops the daemons and removes the
directory.

Each cluster has ports of its own, so two pytest-xdist workers may each run one. The
daemons need root (slurmd starts jobs as their user); as another user ``start()``
returns ``(None, reason)``, as it does when SLURM or munge is not installed. CI installs
both (``.ci/run``) and sets ``STET_REQUIRE_SLURM=1``, which makes a missing cluster a
failure instead of a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["CPUS", "Cluster", "start"]

CPUS = 256  # configured, not real: array tasks of one CPU each run this many at once
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")
_TIMEOUT = 60


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(directory: Path, node: str, ports: tuple[int, int], munge_socket: Path) -> str:
    d = directory
    return f"""\
ClusterName=stettest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
InactiveLimit=0
KillWait=5
MinJobAge=600
MaxArraySize=10001
MaxJobCount=100000
SchedulerParameters=default_queue_depth=1000,sched_min_interval=100000
NodeName={node} NodeAddr=127.0.0.1 NodeHostname={node} CPUs={CPUS} RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


class Cluster:
    """A running cluster: its directory, the environment for its clients, its daemons."""

    def __init__(self, directory: Path, node: str) -> None:
        self.directory = directory
        self.node = node  # this host's name, the cluster's one node
        self.conf = directory / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.daemons: list[subprocess.Popen[bytes]] = []

    def run(self, *command: str, check: bool = True) -> str:
        """A client command (``squeue``, ``scontrol``, ...) against this cluster."""
        done = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=_TIMEOUT
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
        return done.stdout

    def sbatch(self, *args: str, cwd: str | Path) -> str:
        """Submit a job (``sbatch --parsable ...``) from ``cwd``; return its job id."""
        done = subprocess.run(
            ["sbatch", "--parsable", *args],
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"sbatch {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip().split(";")[0]

    def jobs(self, job: str | None = None) -> list[tuple[str, str]]:
        """(job id, state) of every job still known to squeue, array tasks one by one."""
        command = ["squeue", "--noheader", "--array", "--format=%i %T"]
        if job is not None:
            command += ["--jobs", job]
        lines = self.run(*command, check=False).splitlines()
        return [(parts[0], parts[1]) for parts in (line.split() for line in lines) if parts]

    def wait(self, job: str, timeout: float = 600) -> None:
        """Until no task of ``job`` is pending or running."""
        deadline = time.monotonic() + timeout
        while self.jobs(job):
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job} still has tasks after {timeout} s: {self.jobs(job)}")
            time.sleep(0.5)

    def state(self, job: str) -> str:
        """A job's (or an array task's, ``123_4``) state as scontrol tells it."""
        out = self.run("scontrol", "show", "job", job, "--oneliner")
        for field in out.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        raise RuntimeError(f"no JobState for job {job}: {out}")

    def log(self, daemon: str) -> str:
        path = self.directory / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Cancel every job, stop the daemons, remove the directory."""
        with contextlib.suppress(Exception):
            subprocess.run(["scancel", "--full", "--user=root"], env=self.env, timeout=10)
        for daemon in reversed(self.daemons):
            daemon.terminate()
        for daemon in reversed(self.daemons):
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        self.daemons.clear()
        with contextlib.suppress(OSError, ValueError):  # munged daemonized itself
            pid = int((self.directory / "munge" / "munged.pid").read_text().strip())
            os.kill(pid, 15)
        shutil.rmtree(self.directory, ignore_errors=True)


def start() -> tuple[Cluster | None, str]:
    """Start a cluster, or return ``(None, why not)``."""
    missing = [program for program in PROGRAMS if shutil.which(program) is None]
    if missing:
        names = ", ".join(missing)
        return None, f"SLURM is not installed here (no {names}): apt-get install slurm-wlm munge"
    if os.geteuid() != 0:
        return None, "a throwaway SLURM cluster needs root (its slurmd starts jobs)"
    directory = Path(tempfile.mkdtemp(prefix="stet-slurm-"))
    os.chmod(directory, 0o755)  # munged refuses a key or socket in a directory others write
    for sub in ("state", "spool", "munge"):
        (directory / sub).mkdir()
    node = socket.gethostname().split(".")[0]
    cluster = Cluster(directory, node)
    try:
        _start_munge(directory)
        munge_socket = directory / "munge" / "munge.socket"
        ports = (_free_port(), _free_port())
        cluster.conf.write_text(_config(directory, node, ports, munge_socket))
        for daemon, options in (("slurmctld", ["-D", "-i"]), ("slurmd", ["-D", "-N", node])):
            log = open(directory / f"{daemon}.out", "wb")  # noqa: SIM115 - the daemon's own
            cluster.daemons.append(
                subprocess.Popen(
                    [daemon, *options, "-f", str(cluster.conf)],
                    env=cluster.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        _wait_idle(cluster)
    except Exception as error:
        reason = f"the SLURM cluster did not start: {error}\n{cluster.log('slurmctld')[-2000:]}"
        cluster.stop()
        return None, reason
    return cluster, ""


def _start_munge(directory: Path) -> None:
    munge = directory / "munge"
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    command = [
        "munged",
        "--force",  # as root, and with the key outside /etc/munge
        f"--key-file={key}",
        f"--socket={munge / 'munge.socket'}",
        f"--pid-file={munge / 'munged.pid'}",
        f"--log-file={munge / 'munged.log'}",
        f"--seed-file={munge / 'munged.seed'}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT)
    if done.returncode != 0:  # munged daemonizes itself; its pid file stops it
        raise RuntimeError(f"munged failed: {done.stderr.strip()}")


def _wait_idle(cluster: Cluster) -> None:
    deadline = time.monotonic() + _TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        for daemon in cluster.daemons:
            if daemon.poll() is not None:
                raise RuntimeError(f"{daemon.args[0]} exited with status {daemon.returncode}")
        done = subprocess.run(
            ["sinfo", "--noheader", "--format=%T"],
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
        )
        last = done.stdout.strip() or done.stderr.strip()
        if done.returncode == 0 and last == "idle":
            return
        time.sleep(0.3)
    raise RuntimeError(f"the node did not become idle in {_TIMEOUT} s (sinfo: {last})")
