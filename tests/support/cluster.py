"""A throwaway PostgreSQL cluster that one test owns, so that it may restart it.

It runs the PostgreSQL binaries that the `pgserver` package ships, from a data
folder made for it and removed afterwards, on a free port of 127.0.0.1. PostgreSQL
refuses to run as root, so when the tests do (as CI does) the cluster runs as an
unprivileged system user (`postgres` where it exists, else `nobody`).
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pgserver

from tests.support.processes import free_port

BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"


def _unprivileged_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged user to run PostgreSQL as")


@dataclass
class Cluster:
    data_dir: Path
    port: int
    user: pwd.struct_passwd | None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix: list[str] = []
        if self.user is not None:
            prefix = [
                "setpriv",
                f"--reuid={self.user.pw_uid}",
                f"--regid={self.user.pw_gid}",
                "--clear-groups",
                "--",
            ]
        result = subprocess.run(
            [*prefix, str(BIN / command[0]), *command[1:]],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stdout}{result.stderr}{self.log()}")

    def log(self) -> str:
        log = self.data_dir / "server.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def start(self, *, refusing: bool = False) -> None:
        """Starts the server; `refusing`: as a standby with no primary and hot
        standby off, which answers every connection "the database system is not
        accepting connections" (SQLSTATE 57P03), as a server in crash recovery does,
        until it is stopped and started again without it."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.data_dir} -c fsync=off"
        )
        pgdata = self.data_dir / "pgdata"
        standby = pgdata / "standby.signal"
        if refusing:
            standby.touch()
            if self.user is not None:
                os.chown(standby, self.user.pw_uid, self.user.pw_gid)
            options += " -c hot_standby=off"
        else:
            standby.unlink(missing_ok=True)
        self._run(
            "pg_ctl",
            "-D",
            str(pgdata),
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            options,
            "-W" if refusing else "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir / "pgdata"), "-m", mode, "-w", "stop")

    def processes(self) -> list[int]:
        """The pids of the server and of its backends and workers."""
        postmaster = int((self.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [postmaster, *map(int, children)]

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the server stopped (SIGSTOP) until the block ends: it
        accepts connections into its backlog and answers nothing."""
        stopped = self.processes()
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A started cluster with a `postgres` superuser (trust auth on 127.0.0.1)."""
    data_dir = Path(tempfile.mkdtemp(prefix="sessions-cluster-"))
    user = _unprivileged_user()
    if user is not None:
        os.chown(data_dir, user.pw_uid, user.pw_gid)
    cluster = Cluster(data_dir, free_port(), user)
    try:
        cluster._run(
            "initdb",
            "-D",
            str(data_dir / "pgdata"),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--no-locale",
            "-E",
            "UTF8",
        )
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop("immediate")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
