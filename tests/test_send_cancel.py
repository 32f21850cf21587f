"""A caller that leaves mid-reply (cancel or deadline) keeps the partial reply as
INCOMPLETE; the model's request is closed and the session's lease released."""

import asyncio

import grpc
from sessions_client import pb, pb_grpc
from sessions_server.app import build_server
from sessions_server.config import Settings

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.sending import (
    ended,
    eventually,
    kinds,
    lease_free,
    messages,
    new_session,
    read,
    send_until_error,
)


async def test_send_cancelled_mid_stream_keeps_partial_reply(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=200, delay=0.02)
    call = stub.Send(pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md)
    responses = [await read(call) for _ in range(6)]
    assert kinds(responses) == ["started"] + ["delta"] * 5

    call.cancel()

    [received] = fake_upstream.received(script)
    await asyncio.wait_for(received.disconnected.wait(), 1.0)
    assert not received.answered.is_set()

    async def partial_stored() -> bool:
        return await ended(stub, owner, session.id)

    await eventually(partial_stored)
    user, reply = await messages(stub, owner, session.id)
    assert reply.role == pb.ROLE_ASSISTANT
    assert reply.status == pb.MESSAGE_STATUS_INCOMPLETE
    assert reply.content.startswith(script.prefix(5))
    assert script.reply.startswith(reply.content)
    assert user.seq < reply.seq
    assert await lease_free(stub, owner, session.id)


async def test_cancel_before_any_token_keeps_only_the_user_message(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(hang=True)
    call = stub.Send(pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md)
    await read(call)

    call.cancel()

    await eventually(lambda: lease_free(stub, owner, session.id))
    [received] = fake_upstream.received(script)
    await asyncio.wait_for(received.disconnected.wait(), 1.0)
    assert [m.role for m in await messages(stub, owner, session.id)] == [pb.ROLE_USER]
    got = await stub.Get(pb.GetRequest(session_id=session.id), metadata=owner.md)
    assert got.session.message_count == 1


async def test_deadline_mid_stream_keeps_partial_reply_incomplete(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=200, delay=0.02)

    responses, error = await send_until_error(
        stub, owner, session.id, script.say(), grpc_timeout=1.0
    )

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(responses) > 3

    async def partial_stored() -> bool:
        return await ended(stub, owner, session.id)

    await eventually(partial_stored)
    _, reply = await messages(stub, owner, session.id)
    assert reply.status == pb.MESSAGE_STATUS_INCOMPLETE
    assert reply.content.startswith("".join(r.delta.text for r in responses[1:]))
    assert await lease_free(stub, owner, session.id)


async def test_server_stop_mid_stream_keeps_partial_reply_and_releases_lease(
    settings: Settings, database_url: str, stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    stopping = await build_server(settings, database_url)
    script = Script(tokens=200, delay=0.02)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stopping.port}") as channel:
        doomed = pb_grpc.SessionServiceStub(channel)
        session = await new_session(doomed, owner)
        call = doomed.Send(
            pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md
        )
        for _ in range(4):
            await read(call)

        await stopping.stop(0.1)

    _, reply = await messages(stub, owner, session.id)
    assert reply.status == pb.MESSAGE_STATUS_INCOMPLETE
    assert reply.content.startswith(script.prefix(3))
    assert await lease_free(stub, owner, session.id)
