"""History: reading the newest messages of short and long sessions.

`Get` of the newest 50 messages should cost the same on a session of 10,000
messages as on one of 100: the messages' primary key (owner, session_id, seq)
serves "newest first" as a backward index scan that stops after 51 rows. The
same holds for the context a Send builds (the newest messages within the
configured count and byte limits), measured here by calling the store's own
`history.context` in this process, as Send does. The messages are written
straight into the tables, one `INSERT … SELECT` a session.
"""

import uuid
from collections.abc import Awaitable, Callable

import grpc
import uvloop
from sessions_client import pb
from sessions_server.config import Settings
from sessions_server.database import create_engine
from sessions_server.store import Store, history

from bench.common import (
    ROUNDS,
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
SECONDS = 6.0
"""Each run: some 2,000 calls at concurrency 1, so that p99 (the 20th-worst) is not
decided by one hiccup of a shared machine (3 s runs swung 0.85 to 1.26 in a day)."""


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
        engine = create_engine(url, Settings())
        try:
            scenarios: dict[str, Callable[[], Awaitable[Load]]] = {}
            for length in LENGTHS:
                scenarios[f"Get {length}"] = _getter(stub, owner, sessions[length])
                scenarios[f"context {length}"] = _context(Store(engine), owner, sessions[length])
            summaries = await interleaved_rounds(scenarios)
        finally:
            await engine.dispose()

    settings = Settings()
    table = Table(
        f"History: the newest messages of short and long sessions, concurrency 1, "
        f"medians of {ROUNDS} rounds",
        ["operation", "session's messages", "p50 ms", "p99 ms", "p50 ÷ shortest", "p99 ÷ shortest"],
    )
    operations = {
        "Get": f"Get newest {NEWEST} (gRPC)",
        "context": f"Send context build (≤ {settings.context_max_messages} messages)",
    }
    for key, label in operations.items():
        shortest = summaries[f"{key} {LENGTHS[0]}"]
        for length in LENGTHS:
            summary = summaries[f"{key} {length}"]
            table.add(
                label,
                length,
                ms(summary.p50),
                ms(summary.p99),
                Ratio(summary.p50 / shortest.p50),
                Ratio(summary.p99 / shortest.p99),
            )
    table.targets.append(
        Target(
            f"Get newest {NEWEST} p99, {LENGTHS[-1]:,} ÷ {LENGTHS[0]:,} messages",
            summaries[f"Get {LENGTHS[-1]}"].p99 / summaries[f"Get {LENGTHS[0]}"].p99,
            1.2,
        )
    )
    table.notes.append(
        "context build: the store's history.context in one transaction, as Send runs it, "
        "with the default limits; it reads min(messages, limit) rows, so it grows until "
        "the limit and not after"
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


def _context(store: Store, owner: str, session_id: str) -> Callable[[], Awaitable[Load]]:
    settings = Settings()
    sid = uuid.UUID(session_id)

    async def call(worker: int) -> object:
        async with store.scope(owner) as scope:
            return await history.context(
                scope,
                sid,
                # Every seeded message, as when the newest is the message being sent.
                2**62,
                settings.context_max_messages,
                settings.context_max_bytes,
            )

    return lambda: closed_loop(call, 1, SECONDS)


def run(report: Report) -> None:
    with bench_database() as url:
        uvloop.run(_measure(url, report))


if __name__ == "__main__":
    run(Report())
