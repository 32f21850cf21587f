"""A deadlock, through the real server: the stored function's call is tried once
more (one statement, rolled back whole)."""

import asyncio
import uuid

import asyncpg
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import FakeUpstream, Script
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
