"""Cancel: a reply stopped from any replica within a second, its text stored
INCOMPLETE, its Send told so with `completed`; a reply that has ended is returned
unchanged."""

import asyncio
import time

import grpc
import pytest
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.fixtures_replicas import Replicas
from tests.support.attaching import attach, detached, streaming
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.rpc import field_violations, reason
from tests.support.sending import (
    kinds,
    lease_free,
    messages,
    new_session,
    read,
    read_rest,
    send,
    streamed_text,
)


async def cancel(
    stub: Stub, owner: Owner, session_id: str, reply_seq: int = 0, *, as_agent: bool = False
) -> pb.CancelResponse:
    return await stub.Cancel(
        pb.CancelRequest(session_id=session_id, reply_seq=reply_seq),
        metadata=owner.as_agent if as_agent else owner.md,
    )


async def cancel_error(
    stub: Stub, owner: Owner, session_id: str, reply_seq: int = 0
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await cancel(stub, owner, session_id, reply_seq)
    return failed.value


@pytest.mark.parametrize("where", ["same", "other"])
async def test_cancel_stops_the_endpoint_within_a_second_and_ends_the_send_incomplete(
    replicas: Replicas, owner: Owner, fake_upstream: FakeUpstream, where: str
) -> None:
    generating = replicas.a.stub
    cancelling = generating if where == "same" else replicas.b.stub
    session = await new_session(generating, owner)
    script = Script(tokens=500, delay=0.02)
    request = pb.SendRequest(session_id=session.id, content=script.say())
    call, started = await streaming(generating, owner, request, deltas=5)

    asked = time.monotonic()
    answer = await cancel(cancelling, owner, session.id)
    [upstream] = fake_upstream.received(script)
    await asyncio.wait_for(upstream.disconnected.wait(), 1.0)
    took = time.monotonic() - asked
    rest = await read_rest(call)

    assert took < 1.0
    assert answer.cancelled
    reply = answer.assistant_message
    assert reply.seq == started.started.reply_seq
    assert reply.status == pb.MESSAGE_STATUS_INCOMPLETE
    assert reply.content.startswith(script.prefix(5))
    assert not upstream.answered.is_set()
    assert kinds(rest)[-1] == "completed"
    assert rest[-1].completed.assistant_message == reply
    _, stored = await messages(cancelling, owner, session.id)
    assert stored == reply
    assert await lease_free(cancelling, owner, session.id)
    after = await send(cancelling, owner, session.id, Script(tokens=2).say("next"))
    assert after[-1].completed.assistant_message.status == pb.MESSAGE_STATUS_COMPLETE


async def test_an_agent_cancels_a_detached_reply_whose_caller_left(
    replicas: Replicas, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    a, b = replicas.a.stub, replicas.b.stub
    session = await new_session(a, owner)
    script = Script(tokens=500, delay=0.02)
    call = a.Send(detached(session.id, script.say()), metadata=owner.md)
    started = await read(call)
    await read(call)
    call.cancel()
    await asyncio.sleep(0.1)

    answer = await cancel(b, owner, session.id, started.started.reply_seq, as_agent=True)

    assert answer.cancelled
    assert answer.assistant_message.status == pb.MESSAGE_STATUS_INCOMPLETE
    [upstream] = fake_upstream.received(script)
    await asyncio.wait_for(upstream.disconnected.wait(), 1.0)
    replay = await attach(b, owner, session.id)
    assert streamed_text(replay) == answer.assistant_message.content
    assert replay[-1].completed.replayed


async def test_cancel_of_an_ended_reply_returns_it_unchanged(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    responses = await send(stub, owner, session.id, Script(tokens=3).say())
    reply = responses[-1].completed.assistant_message

    for seq in (0, reply.seq):
        answer = await cancel(stub, owner, session.id, seq)
        assert not answer.cancelled
        assert answer.assistant_message == reply
    assert (await messages(stub, owner, session.id))[-1] == reply


async def test_cancel_bad_input_and_missing_replies(
    stub: Stub, owner: Owner, other_owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    assert reason(await cancel_error(stub, owner, session.id)) == (
        grpc.StatusCode.NOT_FOUND,
        "REPLY_NOT_FOUND",
    )
    responses = await send(stub, owner, session.id, Script(tokens=2).say())
    user = responses[0].started.user_message

    wrong = await cancel_error(stub, owner, session.id, user.seq)
    assert reason(wrong) == (grpc.StatusCode.NOT_FOUND, "REPLY_NOT_FOUND")
    negative = await cancel_error(stub, owner, session.id, -1)
    assert reason(negative) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert field_violations(negative) == ["reply_seq"]
    foreign = await cancel_error(stub, other_owner, session.id)
    assert reason(foreign) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    assert (await messages(stub, owner, session.id))[-1] == responses[
        -1
    ].completed.assistant_message


async def test_cancel_before_any_text_keeps_an_empty_incomplete_reply(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(hang=True)
    call = stub.Send(pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md)
    await read(call)

    answer = await cancel(stub, owner, session.id)

    assert answer.cancelled
    assert (answer.assistant_message.status, answer.assistant_message.content) == (
        pb.MESSAGE_STATUS_INCOMPLETE,
        "",
    )
    rest = await read_rest(call)
    assert rest[-1].completed.assistant_message == answer.assistant_message
    [upstream] = fake_upstream.received(script)
    await asyncio.wait_for(upstream.disconnected.wait(), 1.0)
