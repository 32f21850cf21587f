"""The Python client's Send against the real server: events, the final message, errors."""

import asyncio
import time
import uuid
from contextlib import aclosing

import pytest
from sessions_client import Aborted, DeadlineExceeded, InvalidArgument, NotFound, SessionsClient, pb

from tests.support.fake_upstream import MODEL, FakeUpstream, Script
from tests.support.sending import eventually


async def test_send_yields_started_deltas_and_completed(client: SessionsClient) -> None:
    session = await client.create("echoes", "demo@echo")
    events = [event async for event in client.send(session.id, "hello brave new world")]
    kinds = [event.WhichOneof("event") for event in events]
    # Pieces that arrive together may travel as one delta: count none.
    assert kinds[0] == "started"
    assert set(kinds[1:-1]) == {"delta"}
    assert kinds[-1] == "completed"
    assert events[0].started.session_name == "echoes"
    assert events[0].started.user_message.content == "hello brave new world"
    assert "".join(e.delta.text for e in events[1:-1]) == "hello brave new world"
    reply = events[-1].completed.assistant_message
    assert (reply.role, reply.status) == (pb.ROLE_ASSISTANT, pb.MESSAGE_STATUS_COMPLETE)


async def test_send_text_returns_the_stored_reply_and_reports_each_piece(
    client: SessionsClient, fake_upstream: FakeUpstream
) -> None:
    session = await client.create("fake", MODEL)
    pieces: list[str] = []
    script = Script(tokens=4)
    reply = await client.send_text(session.id, script.say(), on_delta=pieces.append)
    assert pieces
    assert "".join(pieces) == reply.content == script.reply
    got = await client.get(session.id, messages_limit=10)
    assert got.messages[-1] == reply
    assert got.session.message_count == 2


async def test_repeated_request_id_replays_the_stored_reply(client: SessionsClient) -> None:
    session = await client.create("once", "demo@echo")
    first = await client.send_text(session.id, "only once", request_id="send-1")
    events = [e async for e in client.send(session.id, "only once", request_id="send-1")]
    assert events[-1].completed.replayed
    assert events[-1].completed.assistant_message == first
    assert (await client.get(session.id)).session.message_count == 2


async def test_send_to_a_missing_session_raises_not_found(client: SessionsClient) -> None:
    with pytest.raises(NotFound) as raised:
        await client.send_text(str(uuid.uuid4()), "hello")
    assert raised.value.reason == "SESSION_NOT_FOUND"


async def test_blank_content_raises_invalid_argument(client: SessionsClient) -> None:
    session = await client.create("blank", "demo@echo")
    with pytest.raises(InvalidArgument) as raised:
        await client.send_text(session.id, "   ")
    assert [v.field for v in raised.value.violations] == ["content"]


async def test_second_send_while_one_streams_raises_session_busy(
    client: SessionsClient, fake_upstream: FakeUpstream
) -> None:
    session = await client.create("busy", MODEL)
    slow = Script(tokens=3, delay=0.5)
    first = asyncio.create_task(client.send_text(session.id, slow.say()))
    await eventually(lambda: _has_messages(client, session.id))
    with pytest.raises(Aborted) as raised:
        await client.send_text(session.id, "me too")
    assert raised.value.reason == "SESSION_BUSY"
    assert (await first).content == slow.reply


async def _has_messages(client: SessionsClient, session_id: str) -> bool:
    return (await client.get(session_id)).session.message_count > 0


async def _last_reply_incomplete(client: SessionsClient, session_id: str) -> bool:
    got = await client.get(session_id, messages_limit=10)
    return [m.status for m in got.messages][-1:] == [pb.MESSAGE_STATUS_INCOMPLETE]


async def test_send_deadline_is_honoured_and_the_partial_reply_kept(
    client: SessionsClient, fake_upstream: FakeUpstream
) -> None:
    session = await client.create("slow", MODEL)
    stalled = Script(tokens=5, stall_after=2)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await client.send_text(session.id, stalled.say(), timeout=1.0)
    assert time.monotonic() - started < 3.0

    await eventually(lambda: _last_reply_incomplete(client, session.id))
    got = await client.get(session.id, messages_limit=10)
    assert got.messages[-1].content == stalled.prefix(2)


async def test_leaving_the_stream_early_cancels_the_call(
    client: SessionsClient, fake_upstream: FakeUpstream
) -> None:
    session = await client.create("left", MODEL)
    slow = Script(tokens=20, delay=0.1)
    async with aclosing(client.send(session.id, slow.say())) as events:
        async for event in events:
            if event.HasField("delta"):
                break

    await eventually(lambda: _last_reply_incomplete(client, session.id))
