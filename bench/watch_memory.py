"""Memory: resident memory the server spends per open, idle Watch stream.

Each round starts a fresh server process (resident memory never shrinks back, so
a second round on the same process would reuse the first's pages), opens and
closes a few streams so that lazily built state exists, reads VmRSS from
/proc/<pid>/status, opens `STREAMS` idle streams from `CHANNELS` connections,
waits until the server counts them all open, and reads VmRSS again.

When the server does not implement Watch yet, the health service's Watch (also a
server stream that stays open and idle) stands in, and the table says so: it
measures what grpc.aio itself spends per stream, the floor under Watch's figure.
"""

import asyncio
import re
import statistics
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sessions_client import pb

from bench.common import ROUNDS, Report, SessionStub, Table, Target, as_user, bench_database
from bench.common import server_process as start
from tests.support.processes import free_port

NAME = "watch_memory"
STREAMS = 1_000
CHANNELS = 10
LIMIT_KIB = 50
OPEN_SECONDS = 60.0

Call = Any  # grpc.aio.UnaryStreamCall of either service; typed loosely by grpc-stubs


def rss_kib(pid: int) -> int:
    """The process's resident set size, in KiB, as the kernel reports it."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _streams_in_flight(metrics_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    found = re.search(r'^sessions_streams_in_flight\{method="Watch"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


async def _until_streams(metrics_port: int, done: Callable[[int], bool], calls: list[Call]) -> None:
    """Waits until the server's count of open Watch streams satisfies `done`;
    fails early when one of `calls` has ended."""
    deadline = time.monotonic() + OPEN_SECONDS
    while not done(await asyncio.to_thread(_streams_in_flight, metrics_port)):
        ended = [call for call in calls if call.done()]
        if ended:
            raise RuntimeError(f"a Watch stream ended: {await ended[0].code()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"Watch streams not as expected within {OPEN_SECONDS} s")
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class Opener:
    """How to open `count` idle streams and know that the server holds them all."""

    label: str
    is_watch: bool
    open: Callable[[list[grpc.aio.Channel], int], Awaitable[list[Call]]]


def _session_watch(metrics_port: int) -> Opener:
    owner = f"watch-{uuid.uuid4().hex[:8]}"

    async def open_(channels: list[grpc.aio.Channel], count: int) -> list[Call]:
        # Streams cancelled earlier leave the server's count a moment later.
        await _until_streams(metrics_port, lambda n: n == 0, [])
        calls = [
            SessionStub(channels[i % len(channels)]).Watch(
                pb.WatchRequest(), metadata=as_user(owner)
            )
            for i in range(count)
        ]
        await _until_streams(metrics_port, lambda n: n >= count, calls)
        return calls

    return Opener("sessions Watch", True, open_)


async def _health_watch(channels: list[grpc.aio.Channel], count: int) -> list[Call]:
    calls = [
        health_pb2_grpc.HealthStub(channels[i % len(channels)]).Watch(
            health_pb2.HealthCheckRequest()
        )
        for i in range(count)
    ]
    # The first message (the current status) proves the server holds the stream.
    await asyncio.gather(*(call.read() for call in calls))
    return calls


HEALTH = Opener("health Watch (sessions Watch not available)", False, _health_watch)


async def _watch_available(channel: grpc.aio.Channel, metrics_port: int) -> bool:
    """Whether the server implements Watch: a probe stream that is still open a
    moment after the server counted it."""
    probe = SessionStub(channel).Watch(pb.WatchRequest(), metadata=as_user("probe"))
    try:
        await _until_streams(metrics_port, lambda n: n >= 1 or probe.done(), [])
        await asyncio.sleep(0.2)
        return not probe.done()
    finally:
        probe.cancel()


async def _round(url: str) -> tuple[Opener, float]:
    """One fresh server: (what was opened, KiB of VmRSS per stream)."""
    metrics_port = free_port()
    env = {"SESSIONS_METRICS_PORT": str(metrics_port)}
    async with start(url, env) as server:
        channels = [grpc.aio.insecure_channel(server.address) for _ in range(CHANNELS)]
        try:
            available = await _watch_available(channels[0], metrics_port)
            opener = _session_watch(metrics_port) if available else HEALTH
            for call in await opener.open(channels, CHANNELS):  # warm every connection
                call.cancel()
            await asyncio.sleep(0.5)
            before = rss_kib(server.process.pid)
            calls = await opener.open(channels, STREAMS)
            await asyncio.sleep(0.5)
            after = rss_kib(server.process.pid)
            for call in calls:
                call.cancel()
        finally:
            await asyncio.gather(*(channel.close(None) for channel in channels))
    return opener, (after - before) / STREAMS


async def _measure(url: str, report: Report) -> None:
    rounds = [await _round(url) for _ in range(ROUNDS)]
    opener = rounds[0][0]
    per_stream = statistics.median(kib for _, kib in rounds)
    table = Table(
        f"Memory: server VmRSS growth with {STREAMS:,} idle open streams, "
        f"median of {ROUNDS} fresh servers",
        ["streams", "connections", "KiB per stream", "rounds (KiB per stream)"],
    )
    table.add(opener.label, CHANNELS, per_stream, ", ".join(f"{kib:.1f}" for _, kib in rounds))
    table.targets.append(Target("KiB of RSS per idle open stream", per_stream, LIMIT_KIB))
    if not opener.is_watch:
        table.notes.append(
            "the server has no Watch yet: the health service's Watch stream stands in, "
            "which is grpc.aio's own cost per stream, the floor under Watch's"
        )
    report.add(NAME, table)


def run(report: Report) -> None:
    with bench_database() as url:
        uvloop.run(_measure(url, report))


if __name__ == "__main__":
    run(Report())
