"""Unary calls: Create, Get, List and Manage against the real server process.

A grpc.aio load generator in this process drives the server in its own process at
concurrency 1 and 32. The floor is the health `Check` RPC on the same server and
channel: a unary call that does no work, so `call ÷ Check` is what the service's
own work (authentication, validation, the database round trips, conversion) costs
on top of what any grpc.aio call costs here.
"""

import uuid
from collections.abc import Awaitable, Callable

import grpc
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sessions_client import pb

from bench.common import (
    Load,
    Ratio,
    Report,
    SessionStub,
    Table,
    as_user,
    bench_database,
    closed_loop,
    connect,
    interleaved_rounds,
    ms,
    seed_messages,
    server_process,
)

NAME = "unary"
CONCURRENCIES = (1, 32)
SECONDS = 1.5
"""Length of one measured run; each scenario runs once per round."""

MESSAGES = 20
"""Each Get returns this many stored messages."""

LISTED = 100
"""Sessions of the List owner; List returns the default page of 50."""


async def _create_sessions(stub: SessionStub, owner: str, count: int) -> list[str]:
    return [
        (
            await stub.Create(
                pb.CreateRequest(name=f"bench {i}", model="echo"), metadata=as_user(owner)
            )
        ).session.id
        for i in range(count)
    ]


async def _measure(url: str, report: Report) -> None:
    async with server_process(url) as server, grpc.aio.insecure_channel(server.address) as channel:
        stub = SessionStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        # Distinct owners so that the sessions Create makes do not grow List's.
        creator, reader, lister = (f"unary-{role}-{uuid.uuid4().hex[:8]}" for role in "crl")
        readable = await _create_sessions(stub, reader, max(CONCURRENCIES))
        await _create_sessions(stub, lister, LISTED)
        async with connect(url) as connection:
            for session_id in readable:
                await seed_messages(connection, reader, uuid.UUID(session_id), MESSAGES)
            await connection.execute("ANALYZE")
        renames = [0] * max(CONCURRENCIES)

        async def check(worker: int) -> object:
            return await health.Check(health_pb2.HealthCheckRequest())

        async def create(worker: int) -> object:
            request = pb.CreateRequest(name="bench", model="echo")
            return await stub.Create(request, metadata=as_user(creator))

        async def get(worker: int) -> object:
            request = pb.GetRequest(session_id=readable[worker], messages_limit=MESSAGES)
            return await stub.Get(request, metadata=as_user(reader))

        async def list_(worker: int) -> object:
            return await stub.List(pb.ListRequest(), metadata=as_user(lister))

        async def manage(worker: int) -> object:
            renames[worker] += 1
            request = pb.ManageRequest(
                session_id=readable[worker], rename=pb.Rename(name=f"renamed {renames[worker]}")
            )
            return await stub.Manage(request, metadata=as_user(reader))

        calls: dict[str, Callable[[int], Awaitable[object]]] = {
            "Check (floor)": check,
            "Create": create,
            f"Get ({MESSAGES} messages)": get,
            f"List (page of 50 of {LISTED})": list_,
            "Manage rename": manage,
        }

        def scenario(
            call: Callable[[int], Awaitable[object]], concurrency: int
        ) -> Callable[[], Awaitable[Load]]:
            return lambda: closed_loop(call, concurrency, SECONDS)

        scenarios = {
            (name, concurrency): scenario(call, concurrency)
            for concurrency in CONCURRENCIES
            for name, call in calls.items()
        }
        summaries = await interleaved_rounds(
            {f"{name}@{concurrency}": measure for (name, concurrency), measure in scenarios.items()}
        )

    table = Table(
        "Unary calls: server process, grpc.aio load generator, medians of 3 rounds",
        ["call", "concurrency", "calls/s", "p50 ms", "p99 ms", "calls/s ÷ floor", "p50 ÷ floor"],
    )
    for concurrency in CONCURRENCIES:
        floor = summaries[f"Check (floor)@{concurrency}"]
        for name in calls:
            summary = summaries[f"{name}@{concurrency}"]
            table.add(
                name,
                concurrency,
                summary.rate,
                ms(summary.p50),
                ms(summary.p99),
                Ratio(summary.rate / floor.rate),
                Ratio(summary.p50 / floor.p50),
            )
    table.notes.append(
        "floor: the health Check RPC on the same server and channel (a call doing no work); "
        "the machine is shared, so absolute figures are noisy"
    )
    report.add(NAME, table)


def run(report: Report) -> None:
    with bench_database() as url:
        uvloop.run(_measure(url, report))


if __name__ == "__main__":
    run(Report())
