"""One writer per session: a second Send, a truncate or a delete while a Send
streams is SESSION_BUSY, and an owner's Sends in flight are capped."""

import asyncio

import grpc
import pytest
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.rpc import reason
from tests.support.sending import (
    eventually,
    lease_free,
    messages,
    new_session,
    read,
    read_rest,
    send,
    send_until_error,
)


async def test_two_concurrent_sends_one_streams_the_other_is_busy(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    scripts = [Script(tokens=10, delay=0.01) for _ in range(2)]

    outcomes = await asyncio.gather(
        *(send(stub, owner, session.id, s.say()) for s in scripts), return_exceptions=True
    )

    completed = [o for o in outcomes if isinstance(o, list)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert (len(completed), len(refused)) == (1, 1), outcomes
    assert reason(refused[0]) == (grpc.StatusCode.ABORTED, "SESSION_BUSY")
    assert sum(len(fake_upstream.received(s)) for s in scripts) == 1
    assert len(await messages(stub, owner, session.id)) == 2
    after = await send(stub, owner, session.id, Script().say("again"))
    assert after[-1].completed.assistant_message.status == pb.MESSAGE_STATUS_COMPLETE


async def test_send_while_another_streams_is_busy_and_stores_nothing(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    slow, late = Script(tokens=20, delay=0.02), Script()
    first = stub.Send(pb.SendRequest(session_id=session.id, content=slow.say()), metadata=owner.md)
    await read(first)

    responses, error = await send_until_error(stub, owner, session.id, late.say())

    assert reason(error) == (grpc.StatusCode.ABORTED, "SESSION_BUSY")
    assert responses == []
    assert fake_upstream.received(late) == []
    rest = await read_rest(first)
    assert rest[-1].completed.assistant_message.content == slow.reply
    assert [m.content for m in await messages(stub, owner, session.id)] == [
        slow.say(),
        slow.reply,
    ]


@pytest.mark.parametrize(
    "action",
    [pb.ManageRequest(truncate=pb.Truncate(keep_last=0)), pb.ManageRequest(delete=pb.Delete())],
    ids=["truncate", "delete"],
)
async def test_truncate_and_delete_wait_for_the_streaming_send(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream, action: pb.ManageRequest
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=20, delay=0.02)
    call = stub.Send(pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md)
    await read(call)
    request = pb.ManageRequest()
    request.CopyFrom(action)
    request.session_id = session.id

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Manage(request, metadata=owner.md)

    assert reason(refused.value) == (grpc.StatusCode.ABORTED, "SESSION_BUSY")
    await read_rest(call)
    done = await stub.Manage(request, metadata=owner.md)
    assert done.deleted or done.messages_removed == 2


async def test_owner_sends_in_flight_are_capped(
    stub: Stub, owner: Owner, other_owner: Owner, fake_upstream: FakeUpstream
) -> None:
    """The default cap is 8 Sends per owner."""
    sessions = [await new_session(stub, owner) for _ in range(9)]
    stalled = [
        stub.Send(
            pb.SendRequest(session_id=s.id, content=Script(stall_after=1).say()),
            metadata=owner.md,
        )
        for s in sessions[:8]
    ]
    for call in stalled:
        await read(call)

    _, error = await send_until_error(stub, owner, sessions[8].id, Script().say())
    others = await send(stub, other_owner, (await new_session(stub, other_owner)).id, "hi")

    assert reason(error) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_SENDS")
    assert others[-1].completed.assistant_message.status == pb.MESSAGE_STATUS_COMPLETE
    assert await messages(stub, owner, sessions[8].id) == []
    stalled[0].cancel()
    await eventually(lambda: lease_free(stub, owner, sessions[0].id))
    admitted = await send(stub, owner, sessions[8].id, Script().say())
    assert admitted[-1].completed.assistant_message.status == pb.MESSAGE_STATUS_COMPLETE
    for call in stalled[1:]:
        call.cancel()
    for session in sessions[1:8]:
        await eventually(lambda: lease_free(stub, owner, session.id))  # noqa: B023
