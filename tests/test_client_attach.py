"""The Python client's Attach, Cancel and detached Send against the real server."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest
from sessions_client import InvalidArgument, NotFound, SessionsClient, pb

from tests.support.fake_upstream import MODEL, FakeUpstream, Script
from tests.support.sending import eventually


async def _events(stream: AsyncIterator[pb.SendResponse]) -> list[pb.SendResponse]:
    return [event async for event in stream]


def _text(events: list[pb.SendResponse]) -> str:
    return "".join(event.delta.text for event in events if event.HasField("delta"))


def _kinds(events: list[pb.SendResponse]) -> list[str]:
    return [str(event.WhichOneof("event")) for event in events]


async def _newest(client: SessionsClient, session_id: str) -> pb.Message:
    return (await client.get(session_id, messages_limit=1)).messages[0]


async def test_send_names_the_reply_and_counts_its_code_points(client: SessionsClient) -> None:
    session = await client.create("offsets", "demo@echo")
    content = "café naïve 東京 ok"
    events = await _events(client.send(session.id, content))
    reply = events[-1].completed.assistant_message
    assert events[0].started.reply_seq == reply.seq == 2
    offsets = [event.delta.end_offset for event in events if event.HasField("delta")]
    assert offsets == sorted(offsets)
    assert offsets[-1] == len(content)  # code points, not UTF-8 bytes


async def test_attach_after_the_reply_ended_replays_it(client: SessionsClient) -> None:
    session = await client.create("replay", "demo@echo")
    reply = await client.send_text(session.id, "said once, read twice")
    events = await _events(client.attach(session.id))
    assert _kinds(events)[0] == "started"
    assert set(_kinds(events)[1:-1]) == {"delta"}
    assert events[0].started.reply_seq == reply.seq
    assert events[0].started.user_message.content == "said once, read twice"
    assert _text(events) == reply.content
    assert events[-1].completed.replayed
    assert events[-1].completed.assistant_message == reply


async def test_attach_from_an_offset_gives_the_rest(client: SessionsClient) -> None:
    session = await client.create("rest", "demo@echo")
    first = await client.send_text(session.id, "one two three")
    await client.send_text(session.id, "four five")
    events = await _events(client.attach(session.id, reply_seq=first.seq, after_offset=4))
    assert _text(events) == "two three"
    assert events[-1].completed.assistant_message == first
    at_the_end = await _events(client.attach(session.id, reply_seq=first.seq, after_offset=13))
    assert _text(at_the_end) == ""
    assert at_the_end[-1].completed.replayed


async def test_attach_past_the_end_or_before_the_start_is_invalid(client: SessionsClient) -> None:
    session = await client.create("bounds", "demo@echo")
    await client.send_text(session.id, "short")
    for offset in (6, -1):
        with pytest.raises(InvalidArgument):
            await _events(client.attach(session.id, after_offset=offset))


async def test_attach_and_cancel_without_a_reply_are_reply_not_found(
    client: SessionsClient,
) -> None:
    session = await client.create("silent", "demo@echo")
    with pytest.raises(NotFound) as attached:
        await _events(client.attach(session.id))
    assert attached.value.reason == "REPLY_NOT_FOUND"
    with pytest.raises(NotFound) as cancelled:
        await client.cancel(session.id)
    assert cancelled.value.reason == "REPLY_NOT_FOUND"
    await client.send_text(session.id, "now one")
    with pytest.raises(NotFound) as wrong_seq:
        await client.cancel(session.id, reply_seq=99)
    assert wrong_seq.value.reason == "REPLY_NOT_FOUND"


async def test_another_owners_reply_is_not_found(
    client: SessionsClient, shared_client: SessionsClient
) -> None:
    session = await client.create("mine", "demo@echo")
    await client.send_text(session.id, "private words")
    stranger = shared_client.with_identity(owner=f"stranger-{uuid.uuid4().hex[:8]}")
    with pytest.raises(NotFound) as attached:
        await _events(stranger.attach(session.id))
    assert attached.value.reason == "SESSION_NOT_FOUND"
    with pytest.raises(NotFound) as cancelled:
        await stranger.cancel(session.id)
    assert cancelled.value.reason == "SESSION_NOT_FOUND"


async def test_cancel_stops_a_reply_in_progress(
    client: SessionsClient, agent_client: SessionsClient, fake_upstream: FakeUpstream
) -> None:
    session = await client.create("stopped", MODEL)
    first_piece = asyncio.Event()
    sending = asyncio.create_task(
        client.send_text(
            session.id, Script(tokens=50, delay=0.1).say(), on_delta=lambda _: first_piece.set()
        )
    )
    await asyncio.wait_for(first_piece.wait(), 10)
    cancelled = await agent_client.cancel(session.id)  # agents may cancel
    assert cancelled.cancelled
    stored = cancelled.assistant_message
    assert stored.status == pb.MESSAGE_STATUS_INCOMPLETE
    assert stored.content.startswith("tok0")
    # The Send caller's stream ends with `completed`, carrying the same message.
    assert await asyncio.wait_for(sending, 5) == stored
    assert await _newest(client, session.id) == stored
    again = await client.cancel(session.id, reply_seq=stored.seq)
    assert (again.cancelled, again.assistant_message) == (False, stored)
    assert (await client.send_text(session.id, "next")).status == pb.MESSAGE_STATUS_COMPLETE


async def test_cancel_after_the_reply_ended_returns_it_unchanged(client: SessionsClient) -> None:
    session = await client.create("finished", "demo@echo")
    reply = await client.send_text(session.id, "all done")
    cancelled = await client.cancel(session.id)
    assert not cancelled.cancelled
    assert cancelled.assistant_message == reply
    assert await _newest(client, session.id) == reply


async def test_a_detached_reply_goes_on_after_its_caller_leaves(
    client: SessionsClient, fake_upstream: FakeUpstream
) -> None:
    session = await client.create("detached", MODEL)
    script = Script(tokens=12, delay=0.1)
    read = ""
    reply_seq = end_offset = 0
    async with aclosing(client.send(session.id, script.say(), detach=True)) as events:
        async for event in events:
            if event.HasField("started"):
                reply_seq = event.started.reply_seq
            elif event.HasField("delta"):
                read += event.delta.text
                end_offset = event.delta.end_offset
                break
    assert reply_seq
    assert end_offset == len(read)

    rest = await _events(client.attach(session.id, reply_seq=reply_seq, after_offset=end_offset))
    assert read + _text(rest) == script.reply
    reply = rest[-1].completed.assistant_message
    assert (reply.seq, reply.status, reply.content) == (
        reply_seq,
        pb.MESSAGE_STATUS_COMPLETE,
        script.reply,
    )


async def test_a_detached_reply_nobody_reads_is_stored_complete(
    client: SessionsClient, fake_upstream: FakeUpstream
) -> None:
    session = await client.create("unread", MODEL)
    script = Script(tokens=6, delay=0.1)
    async with aclosing(client.send(session.id, script.say(), detach=True)) as events:
        async for event in events:
            if event.HasField("started"):
                break

    async def complete() -> bool:
        newest = await _newest(client, session.id)
        return newest.status == pb.MESSAGE_STATUS_COMPLETE

    await eventually(complete, seconds=10)
    assert (await _newest(client, session.id)).content == script.reply
