"""What the replicas hold over a long run: resident memory and open file
descriptors per process (from /proc), and the database connections of the
service (from `pg_stat_activity`), sampled every few seconds.
"""

import asyncio
import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from faults.stack import Stack
from tests.support.database import asyncpg_url

MIB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    at: float
    """Seconds since the run began."""
    pid: int
    rss_mib: float
    fds: int


@dataclass(frozen=True)
class Connections:
    at: float
    pooled: int
    """Connections named `sessions-server`: the replicas' pools."""
    listeners: int
    """Connections named `sessions-server-listener`: one per replica."""


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / MIB
    raise ValueError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def slope_per_minute(samples: Sequence[Sample]) -> float | None:
    """The least-squares slope of RSS over time, MiB per minute; None with fewer
    than three samples."""
    if len(samples) < 3:
        return None
    mean_t = sum(s.at for s in samples) / len(samples)
    mean_m = sum(s.rss_mib for s in samples) / len(samples)
    spread = sum((s.at - mean_t) ** 2 for s in samples)
    if spread == 0:
        return None
    covariance = sum((s.at - mean_t) * (s.rss_mib - mean_m) for s in samples)
    return covariance / spread * 60.0


@dataclass
class Vitals:
    """Samples of every replica and of the database's connections, every
    `every` seconds, from `began` (monotonic)."""

    stack: Stack
    began: float
    every: float = 2.0
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    connections: list[Connections] = field(default_factory=list)
    _admin: asyncpg.Connection | None = None

    def now(self) -> float:
        return time.monotonic() - self.began

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self.sample()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.every)
        finally:
            if self._admin is not None:
                self._admin.terminate()

    async def sample(self) -> None:
        for replica in self.stack.replicas:
            if not replica.alive:
                continue
            try:
                sample = Sample(
                    self.now(), replica.pid, rss_mib(replica.pid), open_fds(replica.pid)
                )
            except (OSError, ValueError):
                continue  # it died between the check and the read
            self.samples.setdefault(replica.name, []).append(sample)
        if (counted := await self._connections()) is not None:
            self.connections.append(counted)

    async def _connections(self) -> Connections | None:
        """The service's connections now; None while the database cannot say."""
        try:
            if self._admin is None or self._admin.is_closed():
                self._admin = await asyncpg.connect(
                    asyncpg_url(self.stack.cluster.url),
                    timeout=2,
                    server_settings={"application_name": "faults"},
                )
            rows = await self._admin.fetch(
                "SELECT application_name, count(*) AS n FROM pg_stat_activity"
                " WHERE application_name LIKE 'sessions-server%' GROUP BY 1",
                timeout=2,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            if self._admin is not None:
                self._admin.terminate()
                self._admin = None
            return None
        counts = {row["application_name"]: row["n"] for row in rows}
        return Connections(
            self.now(),
            counts.get("sessions-server", 0),
            counts.get("sessions-server-listener", 0),
        )

    def of(self, name: str, pid: int | None = None, after: float = 0.0) -> list[Sample]:
        """The samples of replica `name` (of process `pid` only, when given) taken
        at or after `after` seconds."""
        return [
            s for s in self.samples.get(name, []) if s.at >= after and (pid is None or s.pid == pid)
        ]


def nearest(samples: Sequence[Sample], at: float) -> Sample | None:
    return min(samples, key=lambda s: abs(s.at - at), default=None)
