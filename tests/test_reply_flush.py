"""A reply is stored from its start: IN_PROGRESS, its text appended as it streams
(one row per flush, never a rewrite), whole once it ends; Watch hears its start and
its end, not each flush."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from sessions_client import pb
from sessions_server.config import Settings

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.sending import messages, new_session, read, read_rest, streamed_text
from tests.support.servers import server_with
from tests.support.watching import Watcher


async def test_get_shows_the_reply_in_progress_with_the_text_flushed_so_far(
    stub: Stub, owner: Owner, admin: asyncpg.Connection, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=60, delay=0.02)  # about 1.2 s: several flushes of 200 ms
    call = stub.Send(pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md)
    started = await read(call)
    seen: list[str] = []
    for _ in range(4):
        await asyncio.sleep(0.3)
        _, reply = await messages(stub, owner, session.id)
        assert reply.seq == started.started.reply_seq
        assert reply.status == pb.MESSAGE_STATUS_IN_PROGRESS
        assert script.reply.startswith(reply.content)
        seen.append(reply.content)
    row = await _reply_row(admin, owner, session.id, started.started.reply_seq)
    rest = await read_rest(call)

    assert all(len(a) < len(b) for a, b in itertools.pairwise(seen))
    # Appended as rows of their own: the message row itself is not rewritten.
    assert row.content == ""
    assert len(row.pieces) >= 4
    assert "".join(row.pieces).startswith(seen[-1])
    final = rest[-1].completed.assistant_message
    assert (final.status, final.content) == (pb.MESSAGE_STATUS_COMPLETE, script.reply)
    assert await _reply_row(admin, owner, session.id, final.seq) == StoredReply(script.reply, [])


@dataclass(frozen=True)
class StoredReply:
    content: str
    """The message row's own text."""
    pieces: list[str]
    """The appended pieces, in order."""


async def _reply_row(
    admin: asyncpg.Connection, owner: Owner, session_id: str, seq: int
) -> StoredReply:
    key = (owner.name, uuid.UUID(session_id), seq)
    content = await admin.fetchval(
        "SELECT content FROM messages WHERE owner = $1 AND session_id = $2 AND seq = $3", *key
    )
    pieces = await admin.fetchval(
        "SELECT coalesce(array_agg(content ORDER BY start_offset), '{}') FROM reply_chunks "
        "WHERE owner = $1 AND session_id = $2 AND seq = $3",
        *key,
    )
    return StoredReply(content, list(pieces))


@pytest.fixture
async def unflushed(settings: Settings, database_url: str) -> AsyncIterator[Stub]:
    """A server with SESSIONS_REPLY_FLUSH_MS=0."""
    async with server_with(settings, database_url, reply_flush_ms=0) as stub:
        yield stub


async def test_flush_0_stores_the_text_once_at_the_end(
    unflushed: Stub, owner: Owner, admin: asyncpg.Connection, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(unflushed, owner)
    script = Script(tokens=30, delay=0.02)
    call = unflushed.Send(
        pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md
    )
    started = await read(call)
    for _ in range(10):
        await read(call)

    _, reply = await messages(unflushed, owner, session.id)
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_IN_PROGRESS, "")
    assert (await _reply_row(admin, owner, session.id, started.started.reply_seq)).pieces == []
    rest = await read_rest(call)
    assert rest[-1].completed.assistant_message.content == script.reply
    _, reply = await messages(unflushed, owner, session.id)
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_COMPLETE, script.reply)


async def test_watch_hears_a_replys_start_and_end_not_each_flush(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    watcher = await Watcher.open(stub, owner.md)
    script = Script(tokens=50, delay=0.02)  # about 1 s: five flushes or so
    call = stub.Send(pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md)
    responses = [await read(call), *await read_rest(call)]
    assert streamed_text(responses) == script.reply

    start, end = await watcher.take(2)
    await asyncio.sleep(0.3)
    assert watcher.pending() == 0
    assert [start.type, end.type] == [pb.EVENT_TYPE_MESSAGE_ADDED] * 2
    assert end.session.message_count == 2
    await watcher.close()
