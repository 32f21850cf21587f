"""Memory: resident memory the server spends per open, idle Watch stream.

Each round starts a fresh server process (resident memory never shrinks back, so
a second round on the same process would reuse the first's pages), opens and
closes a few streams so that lazily built state exists, reads VmRSS from
/proc/<pid>/status, opens `STREAMS` idle streams over `CHANNELS` connections,
waits until the server has established every one, and reads VmRSS again.

When the server does not implement Watch, the health service's Watch (also a
server stream that stays open and idle) stands in, and the table says so: it
measures what grpc.aio itself spends per stream, the floor under Watch's figure.
"""

import asyncio
import statistics
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

NAME = "watch_memory"
STREAMS = 1_000
CHANNELS = 10
LIMIT_KIB = 50
OPEN = 60.0
"""Seconds the streams of one round may take to open."""

Call = Any  # a grpc.aio UnaryStreamCall of either service


def rss_kib(pid: int) -> int:
    """The process's resident set size, in KiB, as the kernel reports it."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass(frozen=True)
class Opener:
    """How to open `count` idle streams once the server holds every one."""

    label: str
    is_watch: bool
    open: Callable[[list[grpc.aio.Channel], int], Awaitable[list[Call]]]


async def _session_watch(channels: list[grpc.aio.Channel], count: int) -> list[Call]:
    owner = f"watch-{uuid.uuid4().hex[:8]}"
    calls = [
        SessionStub(channels[i % len(channels)]).Watch(pb.WatchRequest(), metadata=as_user(owner))
        for i in range(count)
    ]
    # Watch sends its headers once the watch is established.
    await asyncio.wait_for(asyncio.gather(*(call.initial_metadata() for call in calls)), OPEN)
    ended = [call for call in calls if call.done()]
    if ended:
        raise RuntimeError(f"a Watch stream ended: {await ended[0].code()}")
    return calls


async def _health_watch(channels: list[grpc.aio.Channel], count: int) -> list[Call]:
    calls = [
        health_pb2_grpc.HealthStub(channels[i % len(channels)]).Watch(
            health_pb2.HealthCheckRequest()
        )
        for i in range(count)
    ]
    # The first message (the current status) proves the server holds the stream.
    await asyncio.wait_for(asyncio.gather(*(call.read() for call in calls)), OPEN)
    return calls


WATCH = Opener("sessions Watch", True, _session_watch)
HEALTH = Opener("health Watch (sessions Watch not available)", False, _health_watch)


async def _watch_available(channel: grpc.aio.Channel) -> bool:
    """Whether the server implements Watch: a probe that is established and still
    open a moment later (an unimplemented one ends right after its headers)."""
    probe = SessionStub(channel).Watch(pb.WatchRequest(), metadata=as_user("probe"))
    try:
        await asyncio.wait_for(probe.initial_metadata(), OPEN)
        await asyncio.sleep(0.2)
        return not probe.done()
    finally:
        probe.cancel()


async def _round(url: str) -> tuple[Opener, float]:
    """One fresh server: what was opened, and KiB of VmRSS per stream."""
    async with start(url) as server:
        channels = [grpc.aio.insecure_channel(server.address) for _ in range(CHANNELS)]
        try:
            opener = WATCH if await _watch_available(channels[0]) else HEALTH
            for call in await opener.open(channels, CHANNELS):  # warms every connection
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
            "the server has no Watch: the health service's Watch stream stands in, "
            "which is grpc.aio's own cost per stream, the floor under Watch's"
        )
    report.add(NAME, table)


def run(report: Report) -> None:
    with bench_database() as url:
        uvloop.run(_measure(url, report))


if __name__ == "__main__":
    run(Report())
