"""Attach: a reply picked up from any offset, on any replica, with no gap and no
duplicate; a reply that has ended is replayed from the offset."""

import asyncio

import grpc
import pytest
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.fixtures_replicas import Replicas
from tests.support.attaching import attach, attach_error, detached, offsets, streaming
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.rpc import field_violations, reason
from tests.support.sending import (
    ended,
    eventually,
    kinds,
    messages,
    new_session,
    read,
    read_rest,
    send,
    streamed_text,
)


async def test_detached_send_left_mid_reply_is_picked_up_on_the_other_replica(
    replicas: Replicas, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    a, b = replicas.a.stub, replicas.b.stub
    session = await new_session(a, owner)
    script = Script(tokens=60, delay=0.01)
    call = a.Send(detached(session.id, script.say()), metadata=owner.md)
    started = await read(call)
    first = [await read(call) for _ in range(5)]
    call.cancel()
    received = streamed_text(first)
    last_offset = first[-1].delta.end_offset
    assert last_offset == len(received)

    rest = await attach(
        b, owner, session.id, reply_seq=started.started.reply_seq, after_offset=last_offset
    )

    assert kinds(rest)[0] == "started"
    assert kinds(rest)[-1] == "completed"
    assert rest[0].started.user_message == started.started.user_message
    assert rest[0].started.reply_seq == started.started.reply_seq
    reply = rest[-1].completed.assistant_message
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_COMPLETE, script.reply)
    assert received + streamed_text(rest) == reply.content
    assert offsets(rest)[-1] == len(reply.content)
    [upstream] = fake_upstream.received(script)
    assert upstream.answered.is_set()
    assert not upstream.disconnected.is_set()
    _, stored = await messages(a, owner, session.id)
    assert stored == reply


@pytest.mark.parametrize("where", ["same", "other"])
async def test_attach_mid_reply_gets_the_stored_text_then_the_live_deltas(
    replicas: Replicas, owner: Owner, fake_upstream: FakeUpstream, where: str
) -> None:
    generating = replicas.a.stub
    attaching = generating if where == "same" else replicas.b.stub
    session = await new_session(generating, owner)
    script = Script(tokens=40, delay=0.02)
    request = pb.SendRequest(session_id=session.id, content=script.say())
    call, _ = await streaming(generating, owner, request, deltas=3)

    attached = await attach(attaching, owner, session.id)
    sent = await read_rest(call)

    reply = attached[-1].completed.assistant_message
    assert reply.content == script.reply
    assert not attached[-1].completed.replayed
    assert streamed_text(attached) == script.reply
    assert sent[-1].completed.assistant_message == reply
    ends = offsets(attached)
    assert ends == sorted(ends)
    assert ends[-1] == len(script.reply)


async def test_attach_to_an_ended_reply_replays_its_tail_from_any_offset(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=8)
    responses = await send(stub, owner, session.id, script.say())
    reply = responses[-1].completed.assistant_message
    middle = len(reply.content) // 2

    for offset in (0, middle, len(reply.content)):
        replay = await attach(stub, owner, session.id, after_offset=offset)
        assert replay[0].started.user_message == responses[0].started.user_message
        assert replay[0].started.reply_seq == reply.seq
        assert streamed_text(replay) == reply.content[offset:]
        assert replay[-1].completed.replayed
        assert replay[-1].completed.assistant_message == reply
    assert kinds(await attach(stub, owner, session.id, after_offset=len(reply.content))) == [
        "started",
        "completed",
    ]
    past = await attach_error(stub, owner, session.id, after_offset=len(reply.content) + 1)
    assert reason(past) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert field_violations(past) == ["after_offset"]


async def test_attach_names_a_reply_by_seq_and_defaults_to_the_newest(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    first = await send(stub, owner, session.id, Script(tokens=2).say("one"))
    second = await send(stub, owner, session.id, Script(tokens=3).say("two"))
    older = first[-1].completed.assistant_message

    assert (await attach(stub, owner, session.id))[-1].completed.assistant_message == (
        second[-1].completed.assistant_message
    )
    by_seq = await attach(stub, owner, session.id, reply_seq=older.seq)
    assert by_seq[-1].completed.assistant_message == older
    assert by_seq[0].started.user_message == first[0].started.user_message


async def test_an_offset_not_yet_stored_is_waited_for(
    replicas: Replicas, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    a, b = replicas.a.stub, replicas.b.stub
    session = await new_session(a, owner)
    script = Script(tokens=30, delay=0.02)
    call = a.Send(detached(session.id, script.say()), metadata=owner.md)
    await read(call)
    ahead = len(script.prefix(20))

    rest = await attach(b, owner, session.id, after_offset=ahead)

    assert streamed_text(rest) == script.reply[ahead:]
    assert rest[-1].completed.assistant_message.content == script.reply
    call.cancel()


async def test_attach_bad_input_and_missing_replies(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    none_yet = await attach_error(stub, owner, session.id)
    assert reason(none_yet) == (grpc.StatusCode.NOT_FOUND, "REPLY_NOT_FOUND")
    responses = await send(stub, owner, session.id, Script(tokens=2).say())
    user = responses[0].started.user_message

    not_a_reply = await attach_error(stub, owner, session.id, reply_seq=user.seq)
    assert reason(not_a_reply) == (grpc.StatusCode.NOT_FOUND, "REPLY_NOT_FOUND")
    beyond = await attach_error(stub, owner, session.id, reply_seq=user.seq + 100)
    assert reason(beyond) == (grpc.StatusCode.NOT_FOUND, "REPLY_NOT_FOUND")
    for field, request in (
        ("reply_seq", {"reply_seq": -1}),
        ("after_offset", {"after_offset": -1}),
    ):
        error = await attach_error(stub, owner, session.id, **request)
        assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
        assert field_violations(error) == [field]
    missing = await attach_error(stub, owner, "00000000-0000-0000-0000-000000000000")
    assert reason(missing) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    malformed = await attach_error(stub, owner, "not-a-session")
    assert reason(malformed) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_attach_of_another_owners_reply_is_session_not_found(
    stub: Stub, owner: Owner, other_owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=30, delay=0.02)
    call = stub.Send(detached(session.id, script.say()), metadata=owner.md)
    await read(call)

    error = await attach_error(stub, other_owner, session.id)

    assert reason(error) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    await eventually(lambda: ended(stub, owner, session.id))
    call.cancel()


async def test_a_detached_reply_is_followed_by_several_attachers_at_once(
    replicas: Replicas, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    a, b = replicas.a.stub, replicas.b.stub
    session = await new_session(a, owner)
    script = Script(tokens=30, delay=0.01)
    call = a.Send(detached(session.id, script.say()), metadata=owner.md)
    await read(call)
    call.cancel()

    followers = await asyncio.gather(*(attach(stub, owner, session.id) for stub in (a, b, a, b)))

    assert all(streamed_text(f) == script.reply for f in followers)
