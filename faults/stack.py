"""The system under fault: a throwaway PostgreSQL cluster, the fake model endpoint
in its own process, and `sessions-server serve` replicas on them.

Everything is started here and stopped when the `stack()` block ends, whatever
happened inside it. A replica that is killed or stopped is started again on the
same port, so that the clients' channels find it again by themselves, as they
would behind a stable address.
"""

import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import grpc
from sessions_client import pb_grpc
from sessions_server import database

from tests.support.cluster import Cluster, throwaway_cluster
from tests.support.database import asyncpg_url
from tests.support.fake_upstream import MODEL
from tests.support.processes import ServerProcess, start_server

if TYPE_CHECKING:
    Stub = pb_grpc.SessionServiceAsyncStub
else:
    Stub = pb_grpc.SessionServiceStub

ROOT = Path(__file__).resolve().parent.parent

LEASE_SECONDS = 2.0
SHUTDOWN_GRACE = 1.0
STATEMENT_TIMEOUT_MS = 1500
POOL_SIZE = 5

SETTINGS: dict[str, str] = {
    "SESSIONS_LEASE_SECONDS": str(LEASE_SECONDS),
    "SESSIONS_SHUTDOWN_GRACE": str(SHUTDOWN_GRACE),
    "SESSIONS_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
    "SESSIONS_DB_POOL_SIZE": str(POOL_SIZE),
    "SESSIONS_DB_POOL_TIMEOUT": "2",
    "SESSIONS_DATABASE_CONNECT_TIMEOUT": "2",
    "SESSIONS_UPSTREAM_RETRY_DELAY": "0.05",
    "SESSIONS_UPSTREAM_FIRST_TOKEN_TIMEOUT": "5",
    "SESSIONS_UPSTREAM_IDLE_TIMEOUT": "2",
    "SESSIONS_REPLY_FLUSH_MS": "100",
}
"""Short enough that a case takes seconds: leases lapse in 2 s, a shutdown gives
its calls 1 s, a call waits at most 2 s for a pooled connection."""

APPLICATION_NAMES = ("sessions-server", "sessions-server-listener")
"""How the service's connections name themselves in `pg_stat_activity`."""

_CHANNEL_OPTIONS = [
    # A replica that comes back is found within a second, not after grpc's
    # default backoff (up to two minutes).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


@dataclass
class Replica:
    """One `sessions-server serve` process and a channel to its port."""

    name: str
    process: ServerProcess
    port: int
    channel: grpc.aio.Channel
    stub: Stub
    started_at: float = field(default_factory=time.monotonic)
    """When the current process started (monotonic seconds)."""
    logs: list[Path] = field(default_factory=list)
    """Every log of this replica's processes, oldest first."""

    @property
    def pid(self) -> int:
        return self.process.process.pid

    @property
    def alive(self) -> bool:
        return self.process.process.poll() is None


@dataclass
class Stack:
    cluster: Cluster
    upstream_url: str
    log_dir: Path
    env: dict[str, str]
    replicas: list[Replica] = field(default_factory=list)
    keep_logs: bool = False
    """Keep the servers' logs when the stack stops (set it when a check failed)."""

    @property
    def model(self) -> str:
        return f"{MODEL}@fake"

    @asynccontextmanager
    async def admin(self) -> AsyncIterator[asyncpg.Connection]:
        """A superuser connection (it bypasses row security), new for each use: the
        last one may have died with the database."""
        connection = await asyncpg.connect(asyncpg_url(self.cluster.url), timeout=5)
        try:
            yield connection
        finally:
            await connection.close(timeout=5)

    async def admin_until_up(self, seconds: float = 30.0) -> None:
        """Waits until the database takes connections and queries again."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                async with self.admin() as connection:
                    await connection.fetchval("SELECT 1")
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def add_replica(self, name: str) -> Replica:
        process = await start_server(self.cluster.url, self.log_dir, self.env)
        port = int(process.address.rsplit(":", 1)[1])
        channel = grpc.aio.insecure_channel(process.address, options=_CHANNEL_OPTIONS)
        replica = Replica(name, process, port, channel, pb_grpc.SessionServiceStub(channel))
        replica.logs.append(process.log_path)
        self.replicas.append(replica)
        return replica

    async def restart(self, replica: Replica) -> None:
        """Starts the replica's process again, on the same port, once the last one
        has exited (it must have been killed or stopped)."""
        if replica.alive:
            raise RuntimeError(f"replica {replica.name} is still running")
        env = {**self.env, "SESSIONS_LISTEN": f"127.0.0.1:{replica.port}"}
        replica.process = await start_server(self.cluster.url, self.log_dir, env)
        replica.logs.append(replica.process.log_path)
        replica.started_at = time.monotonic()

    def log_of(self, replica: Replica) -> str:
        return "".join(path.read_text(errors="replace") for path in replica.logs)

    async def close(self) -> None:
        for replica in self.replicas:  # all drain at once
            if replica.alive:
                replica.process.signal(signal.SIGTERM)
        for replica in self.replicas:
            await asyncio.to_thread(replica.process.stop)
            await replica.channel.close(None)


def _endpoints(path: Path, upstream_url: str) -> Path:
    path.write_text(f'[endpoints.fake]\nurl = "{upstream_url}"\nmodels = ["{MODEL}"]\n')
    return path


@asynccontextmanager
async def _fake_upstream(log: Path) -> AsyncIterator[str]:
    """The fake model endpoint in its own process, its errors (a client hung up
    mid-reply) in `log`; yields its base URL."""
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.fake_upstream"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
        yield line.decode().strip()
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


@asynccontextmanager
async def stack(
    replicas: int = 2, env: Mapping[str, str] | None = None, keep_logs: bool = False
) -> AsyncIterator[Stack]:
    """A migrated throwaway cluster, the fake endpoint and `replicas` server
    processes (named a, b, …), all stopped when the block ends. The logs are kept
    (their folder printed) when the block raises or `Stack.keep_logs` is set."""
    log_dir = Path(tempfile.mkdtemp(prefix="sessions-faults-"))
    built: Stack | None = None
    failed = True
    try:
        async with AsyncExitStack() as exits:
            cluster = exits.enter_context(throwaway_cluster())
            exits.callback(lambda: (log_dir / "postgresql.log").write_text(cluster.log()))
            await asyncio.to_thread(database.migrate, cluster.url)
            upstream_url = await exits.enter_async_context(
                _fake_upstream(log_dir / "fake-upstream.log")
            )
            endpoints = _endpoints(log_dir / "endpoints.toml", upstream_url)
            settings = {**SETTINGS, "SESSIONS_ENDPOINTS_FILE": str(endpoints), **(env or {})}
            built = Stack(cluster, upstream_url, log_dir, settings, keep_logs=True)
            exits.push_async_callback(built.close)
            for index in range(replicas):
                await built.add_replica("abcdefgh"[index])
            built.keep_logs = keep_logs
            yield built
            failed = False
    finally:
        if failed or built is None or built.keep_logs:
            print(f"server logs kept in {log_dir}", file=sys.stderr)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
