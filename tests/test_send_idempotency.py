"""A Send retried with its request_id never duplicates a message: a stored reply is
replayed without the model, a missing one is fetched again, and the id cannot be
reused for anything else."""

import asyncio
import uuid

import grpc
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.rpc import reason
from tests.support.sending import (
    ended,
    eventually,
    kinds,
    messages,
    new_session,
    read,
    read_rest,
    send,
    send_until_error,
)


def request_id() -> str:
    return f"req-{uuid.uuid4()}"


async def test_repeat_replays_the_stored_reply_without_the_model(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script, rid = Script(tokens=4), request_id()
    first = await send(stub, owner, session.id, script.say(), request_id=rid)

    again = await send(stub, owner, session.id, script.say(), request_id=rid)

    assert kinds(again) == ["started", "delta", "completed"]
    assert again[0].started == first[0].started
    assert again[1].delta.text == script.reply
    assert again[2].completed.assistant_message == first[-1].completed.assistant_message
    assert again[2].completed.replayed
    assert len(fake_upstream.received(script)) == 1
    assert len(await messages(stub, owner, session.id)) == 2


async def test_same_id_with_other_content_is_request_id_reused(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    rid = request_id()
    await send(stub, owner, session.id, Script().say("one"), request_id=rid)

    responses, error = await send_until_error(
        stub, owner, session.id, Script().say("two"), request_id=rid
    )

    assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_REUSED")
    assert responses == []
    assert len(await messages(stub, owner, session.id)) == 2


async def test_same_id_on_another_session_or_from_create_is_reused(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    first, second = await new_session(stub, owner), await new_session(stub, owner)
    content, rid = Script().say(), request_id()
    await send(stub, owner, first.id, content, request_id=rid)
    created_with = request_id()
    await stub.Create(
        pb.CreateRequest(name="made", model="m", request_id=created_with), metadata=owner.md
    )

    _, on_other_session = await send_until_error(stub, owner, second.id, content, request_id=rid)
    _, after_create = await send_until_error(
        stub, owner, first.id, content, request_id=created_with
    )

    for error in (on_other_session, after_create):
        assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_REUSED")
    assert await messages(stub, owner, second.id) == []


async def test_same_id_of_another_owner_is_independent(
    stub: Stub, owner: Owner, other_owner: Owner, fake_upstream: FakeUpstream
) -> None:
    rid = request_id()
    mine, theirs = await new_session(stub, owner), await new_session(stub, other_owner)
    await send(stub, owner, mine.id, Script().say("mine"), request_id=rid)

    responses = await send(stub, other_owner, theirs.id, Script().say("theirs"), request_id=rid)

    assert not responses[-1].completed.replayed


async def test_repeat_of_a_failed_send_continues_from_the_stored_user_message(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    # Three refusals use up the first call's attempts; the repeat's attempt streams.
    script, rid = Script(tokens=3, statuses=[{"status": 503}] * 3), request_id()
    failed, _ = await send_until_error(stub, owner, session.id, script.say(), request_id=rid)

    repeated = await send(stub, owner, session.id, script.say(), request_id=rid)

    assert repeated[0].started.user_message == failed[0].started.user_message
    assert repeated[-1].completed.assistant_message.content == script.reply
    assert not repeated[-1].completed.replayed
    user, reply = await messages(stub, owner, session.id)
    assert (user.role, reply.role) == (pb.ROLE_USER, pb.ROLE_ASSISTANT)
    last_attempt = fake_upstream.received(script)[-1]
    assert [m["content"] for m in last_attempt.body["messages"]] == [script.say()]


async def test_repeat_while_the_first_streams_is_request_in_progress(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script, rid = Script(tokens=30, delay=0.02), request_id()
    request = pb.SendRequest(session_id=session.id, content=script.say(), request_id=rid)
    first = stub.Send(request, metadata=owner.md)
    assert (await read(first)).WhichOneof("event") == "started"

    _, error = await send_until_error(stub, owner, session.id, script.say(), request_id=rid)

    assert reason(error) == (grpc.StatusCode.ABORTED, "REQUEST_IN_PROGRESS")
    rest = await read_rest(first)
    assert rest[-1].completed.assistant_message.content == script.reply
    replay = await send(stub, owner, session.id, script.say(), request_id=rid)
    assert replay[-1].completed.replayed


async def test_retry_after_a_lost_acknowledgement_does_not_duplicate(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    """The whole Send succeeded, but the caller never heard: it retries."""
    session = await new_session(stub, owner)
    script, rid = Script(tokens=3), request_id()
    request = pb.SendRequest(session_id=session.id, content=script.say(), request_id=rid)
    unheard = stub.Send(request, metadata=owner.md)

    async def both_stored() -> bool:
        return await ended(stub, owner, session.id)

    await eventually(both_stored)
    unheard.cancel()

    retried = await send(stub, owner, session.id, script.say(), request_id=rid)

    assert retried[-1].completed.replayed
    assert retried[-1].completed.assistant_message.content == script.reply
    assert len(fake_upstream.received(script)) == 1
    assert len(await messages(stub, owner, session.id)) == 2


async def test_retry_after_a_call_cut_mid_reply_replays_the_partial_reply(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    """The caller's connection died mid-reply; its retry gets what was stored."""
    session = await new_session(stub, owner)
    script, rid = Script(tokens=50, delay=0.02), request_id()
    request = pb.SendRequest(session_id=session.id, content=script.say(), request_id=rid)
    call = stub.Send(request, metadata=owner.md)
    for _ in range(3):
        await read(call)
    call.cancel()

    async def reply_stored() -> bool:
        return await ended(stub, owner, session.id)

    await eventually(reply_stored)
    retried = await send(stub, owner, session.id, script.say(), request_id=rid)

    reply = retried[-1].completed.assistant_message
    assert retried[-1].completed.replayed
    assert reply.status == pb.MESSAGE_STATUS_INCOMPLETE
    assert reply.content == retried[1].delta.text
    assert reply.content.startswith(script.prefix(2))
    assert len(fake_upstream.received(script)) == 1


async def test_concurrent_first_calls_with_one_id_store_one_message(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script, rid = Script(tokens=5, delay=0.01), request_id()

    outcomes = await asyncio.gather(
        *(send(stub, owner, session.id, script.say(), request_id=rid) for _ in range(3)),
        return_exceptions=True,
    )

    completed = [o for o in outcomes if isinstance(o, list)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(completed) == 1
    assert all(reason(e) == (grpc.StatusCode.ABORTED, "REQUEST_IN_PROGRESS") for e in refused), (
        refused
    )
    assert len(await messages(stub, owner, session.id)) == 2
