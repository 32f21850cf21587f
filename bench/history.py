"""History: reading the newest messages of short and long sessions.

`Get` of the newest 50 messages should cost the same on a session of 10,000
messages as on one of 100: the messages' primary key (owner, session_id, seq)
serves "newest first" as a backward index scan that stops after 51 rows. The
messages are written straight into the tables, one `INSERT … SELECT` a session.
"""

import uuid
from collections.abc import Awaitable, Callable

import grpc
import uvloop
from sessions_client import pb

from bench.common import (
    Load,
    Ratio,
    Report,
    SessionStub,
    Table,
    Target,
    as_user,
    bench_database,
    closed_loop,
    connect,
    interleaved_rounds,
    ms,
    seed_messages,
    server_process,
)

NAME = "history"
LENGTHS = (100, 10_000)
NEWEST = 50
SECONDS = 1.5


async def _measure(url: str, report: Report) -> None:
    owner = f"history-{uuid.uuid4().hex[:8]}"
    async with server_process(url) as server, grpc.aio.insecure_channel(server.address) as channel:
        stub = SessionStub(channel)
        sessions: dict[int, str] = {}
        async with connect(url) as connection:
            for length in LENGTHS:
                created = await stub.Create(
                    pb.CreateRequest(name=f"{length} messages", model="echo"),
                    metadata=as_user(owner),
                )
                sessions[length] = created.session.id
                await seed_messages(connection, owner, uuid.UUID(created.session.id), length)
            await connection.execute("VACUUM ANALYZE messages")
        scenarios: dict[str, Callable[[], Awaitable[Load]]] = {
            f"Get {length}": _getter(stub, owner, sessions[length]) for length in LENGTHS
        }
        summaries = await interleaved_rounds(scenarios)

    table = Table(
        f"History: Get of the newest {NEWEST} messages, concurrency 1, medians of 3 rounds",
        ["operation", "session's messages", "p50 ms", "p99 ms", "p50 ÷ shortest", "p99 ÷ shortest"],
    )
    shortest, longest = summaries[f"Get {LENGTHS[0]}"], summaries[f"Get {LENGTHS[-1]}"]
    for length in LENGTHS:
        summary = summaries[f"Get {length}"]
        table.add(
            f"Get newest {NEWEST}",
            length,
            ms(summary.p50),
            ms(summary.p99),
            Ratio(summary.p50 / shortest.p50),
            Ratio(summary.p99 / shortest.p99),
        )
    table.targets.append(
        Target(
            f"Get newest {NEWEST} p99, {LENGTHS[-1]:,} ÷ {LENGTHS[0]:,} messages",
            longest.p99 / shortest.p99,
            1.2,
        )
    )
    table.notes.append(
        "Send's context build on these sessions is measured by the streaming bench's "
        "context row once Send is in this branch; until then it is not measured"
    )
    report.add(NAME, table)


def _getter(stub: SessionStub, owner: str, session_id: str) -> Callable[[], Awaitable[Load]]:
    request = pb.GetRequest(session_id=session_id, messages_limit=NEWEST)

    async def call(worker: int) -> object:
        response = await stub.Get(request, metadata=as_user(owner))
        if len(response.messages) != NEWEST:
            raise AssertionError(f"expected {NEWEST} messages, got {len(response.messages)}")
        return response

    return lambda: closed_loop(call, 1, SECONDS)


def run(report: Report) -> None:
    with bench_database() as url:
        uvloop.run(_measure(url, report))


if __name__ == "__main__":
    run(Report())
