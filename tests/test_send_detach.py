"""A detached Send goes on when its caller leaves; one without `detach` stops the
model the moment its caller leaves, however early."""

import asyncio
import random

import grpc
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support.attaching import detached
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.rpc import reason
from tests.support.sending import (
    ended,
    eventually,
    messages,
    new_session,
    read,
    send,
    until_error,
)


async def test_a_detached_reply_whose_caller_left_is_stored_complete(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=30, delay=0.01)
    call = stub.Send(detached(session.id, script.say()), metadata=owner.md)
    await read(call)
    await read(call)

    call.cancel()

    await eventually(lambda: ended(stub, owner, session.id))
    _, reply = await messages(stub, owner, session.id)
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_COMPLETE, script.reply)
    [upstream] = fake_upstream.received(script)
    assert upstream.answered.is_set()
    assert not upstream.disconnected.is_set()


async def test_a_detached_reply_outlives_its_callers_deadline(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=20, delay=0.02)
    call = stub.Send(detached(session.id, script.say()), metadata=owner.md, timeout=0.15)
    responses, error = await until_error(call)
    assert responses[0].WhichOneof("event") == "started"
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    await eventually(lambda: ended(stub, owner, session.id))
    _, reply = await messages(stub, owner, session.id)
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_COMPLETE, script.reply)


async def test_a_detached_send_that_fails_before_any_text_keeps_a_failed_reply(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(statuses=[{"status": 400}])
    call = stub.Send(detached(session.id, script.say()), metadata=owner.md)
    responses, error = await until_error(call)
    assert [r.WhichOneof("event") for r in responses] == ["started"]
    assert reason(error) == (grpc.StatusCode.FAILED_PRECONDITION, "UPSTREAM_REJECTED")

    _, reply = await messages(stub, owner, session.id)
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_FAILED, "")
    after = await send(stub, owner, session.id, Script(tokens=1).say())
    assert after[-1].completed.assistant_message.status == pb.MESSAGE_STATUS_COMPLETE


async def test_leaving_a_send_in_its_first_milliseconds_closes_the_endpoints_request(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    """However early the caller leaves, no model keeps generating for it."""
    scripts = []
    rng = random.Random(15)
    for _ in range(40):
        session = await new_session(stub, owner)
        script = Script(tokens=100, delay=0.02)
        scripts.append(script)
        call = stub.Send(
            pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md
        )
        await asyncio.sleep(rng.uniform(0, 0.05))
        call.cancel()

    await asyncio.sleep(0.5)
    reached = [upstream for script in scripts for upstream in fake_upstream.received(script)]
    assert len(reached) >= 10  # most calls lived long enough to ask the model
    for upstream in reached:
        await asyncio.wait_for(upstream.disconnected.wait(), 1.0)
        assert not upstream.answered.is_set()


async def test_a_detached_send_left_in_its_first_milliseconds_still_replies(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    rng = random.Random(8)
    sessions = []
    script = Script(tokens=3)
    for _ in range(20):
        session = await new_session(stub, owner)
        sessions.append(session.id)
        call = stub.Send(detached(session.id, script.say()), metadata=owner.md)
        await asyncio.sleep(rng.uniform(0, 0.01))
        call.cancel()

    async def all_ended() -> bool:
        stored = [await messages(stub, owner, sid) for sid in sessions]
        return all(m.status != pb.MESSAGE_STATUS_IN_PROGRESS for s in stored for m in s)

    await eventually(all_ended)
    histories = [await messages(stub, owner, sid) for sid in sessions]
    replied = [h for h in histories if h]
    assert len(replied) >= 5  # most calls reached the server before they were left
    for history in replied:
        assert [(m.role, m.status, m.content) for m in history] == [
            (pb.ROLE_USER, pb.MESSAGE_STATUS_COMPLETE, script.say()),
            (pb.ROLE_ASSISTANT, pb.MESSAGE_STATUS_COMPLETE, script.reply),
        ]
