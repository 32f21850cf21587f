"""Database failures of other classes, through the real server: a deadlock is
tried once more (one statement, rolled back whole); a backend terminated under the
server is UNAVAILABLE once and then replaced."""

import asyncio
import uuid

import asyncpg
import grpc
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.rpc import reason, retried
from tests.support.sending import new_session, send


async def test_a_send_caught_in_a_deadlock_is_tried_again_and_stored_once(
    stub: Stub, owner: Owner, admin: asyncpg.Connection, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    deadlocks_before = await _deadlocks(admin)
    script = Script(tokens=2)
    async with admin.transaction():
        await admin.execute(
            "UPDATE sessions SET name = name WHERE owner = $1 AND id = $2",
            owner.name,
            uuid.UUID(session.id),
        )
        sending = asyncio.create_task(send(stub, owner, session.id, script.say()))
        await asyncio.sleep(0.3)  # the Send holds the owner's admission lock, waits on the row
        # Waiting longer, the Send's statement finds the deadlock first and is
        # rolled back; this one then gets the lock.
        await admin.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('sessions.send:' || $1, 0))",
            owner.name,
        )

    responses = await sending
    assert responses[-1].completed.assistant_message.content == script.reply
    assert await _deadlocks(admin) > deadlocks_before
    got = await stub.Get(pb.GetRequest(session_id=session.id, messages_limit=10), metadata=owner.md)
    assert [m.role for m in got.messages] == [pb.ROLE_USER, pb.ROLE_ASSISTANT]


async def _deadlocks(admin: asyncpg.Connection) -> int:
    await admin.execute("SELECT pg_stat_clear_snapshot()")
    count: int = await admin.fetchval(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    )
    return count


async def test_terminated_backends_are_unavailable_once_and_replaced(
    stub: Stub, owner: Owner, admin: asyncpg.Connection, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'sessions-server'"
    )
    unavailable = (grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")
    outcomes: list[object] = []
    for _ in range(10):
        try:
            await send(stub, owner, session.id, Script(tokens=1).say())
            outcomes.append("sent")
        except grpc.aio.AioRpcError as error:
            outcomes.append(reason(error))

    assert set(outcomes) <= {"sent", unavailable}
    assert outcomes[-1] == "sent"
    got = await retried(
        lambda: stub.Get(pb.GetRequest(session_id=session.id), metadata=owner.md), unavailable
    )
    assert got.session.message_count == 2 * outcomes.count("sent")
