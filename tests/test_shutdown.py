"""SIGTERM drains a replica: NOT_SERVING, new calls refused, watchers told to
reconnect, Sends given the grace period (and cut short after it, their partial
reply kept and their session freed), exit 0."""

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sessions_client import pb, pb_grpc

from tests.conftest import Owner, Stub
from tests.support.attaching import attach, detached
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.processes import ServerProcess, start_server
from tests.support.rpc import reason
from tests.support.sending import lease_free, messages, new_session, read, read_rest, send
from tests.support.watching import Watcher

Replica = tuple[ServerProcess, Stub]
StartReplica = Callable[[float], Awaitable[Replica]]


@pytest.fixture
async def replica_with_grace(
    database_url: str, endpoints_file: Path, tmp_path: Path
) -> AsyncIterator[StartReplica]:
    """Starts a replica of the test's own, to be sent SIGTERM, with a given grace."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(grace: float) -> Replica:
            env = {
                "SESSIONS_SHUTDOWN_GRACE": str(grace),
                "SESSIONS_ENDPOINTS_FILE": str(endpoints_file),
            }
            server = await start_server(database_url, tmp_path, env)
            stack.callback(server.stop)
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(server.address))
            return server, pb_grpc.SessionServiceStub(channel)

        yield start


async def test_sigterm_turns_health_not_serving_ends_watchers_and_exits_0(
    replica_with_grace: StartReplica, owner: Owner
) -> None:
    server, stub = await replica_with_grace(5.0)
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service="sessions.v1.SessionService")
        )
        assert (await health.read()).status == health_pb2.HealthCheckResponse.SERVING
        watcher = await Watcher.open(stub, owner.md)

        server.signal(signal.SIGTERM)
        signalled = time.monotonic()
        update = await asyncio.wait_for(health.read(), 5.0)
        assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
        error = await watcher.ended(within=1.0)
        assert reason(error) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
        assert time.monotonic() - signalled < 1.0
        # The health stream is still in flight, so the server is draining, not
        # gone: it refuses new calls.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Create(pb.CreateRequest(name="late", model="m"), metadata=owner.md)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert server.process.poll() is None
        health.cancel()
        assert await server.wait_exit(5.0) == 0
        assert time.monotonic() - signalled < 5.0


async def test_sigterm_during_a_slow_send_lets_it_complete_within_the_grace(
    replica_with_grace: StartReplica, stub: Stub, owner: Owner
) -> None:
    server, on_draining = await replica_with_grace(5.0)
    session = await new_session(on_draining, owner)
    script = Script(tokens=20, delay=0.05)  # about 1 s
    call = on_draining.Send(
        pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md
    )
    await read(call)  # started: the user message is stored

    server.signal(signal.SIGTERM)
    signalled = time.monotonic()
    rest = await read_rest(call)

    reply = rest[-1].completed.assistant_message
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_COMPLETE, script.reply)
    assert await server.wait_exit(5.0) == 0
    assert time.monotonic() - signalled < 5.0
    stored = await messages(stub, owner, session.id)
    assert [m.status for m in stored] == [pb.MESSAGE_STATUS_COMPLETE] * 2


async def test_send_longer_than_the_grace_is_kept_incomplete_and_frees_its_session(
    replica_with_grace: StartReplica, stub: Stub, owner: Owner
) -> None:
    server, on_draining = await replica_with_grace(0.5)
    session = await new_session(on_draining, owner)
    script = Script(tokens=200, delay=0.05)  # about 10 s
    call = on_draining.Send(
        pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md
    )
    for _ in range(4):  # started and three deltas
        await read(call)

    server.signal(signal.SIGTERM)
    signalled = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as cut:
        await read_rest(call)
    # UNAVAILABLE: the caller may retry elsewhere with the same request_id, or
    # attach to what was stored.
    assert reason(cut.value) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
    assert await server.wait_exit(5.0) == 0
    assert time.monotonic() - signalled < 3.0

    stored = await messages(stub, owner, session.id)
    assert [(m.role, m.status) for m in stored] == [
        (pb.ROLE_USER, pb.MESSAGE_STATUS_COMPLETE),
        (pb.ROLE_ASSISTANT, pb.MESSAGE_STATUS_INCOMPLETE),
    ]
    partial = stored[1].content
    assert partial.startswith(script.prefix(3))
    assert len(partial) < len(script.reply)
    # The lease was given back, not left to lapse: another replica sends at once.
    after = await send(stub, owner, session.id, Script(tokens=2).say("next"))
    assert after[-1].completed.assistant_message.status == pb.MESSAGE_STATUS_COMPLETE


async def test_sigterm_lets_a_body_that_lags_its_done_end_before_closing_connections(
    replica_with_grace: StartReplica, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    server, on_draining = await replica_with_grace(5.0)
    session = await new_session(on_draining, owner)
    lagging = Script(end_lag=0.5)
    await send(on_draining, owner, session.id, lagging.say())

    server.signal(signal.SIGTERM)

    assert await server.wait_exit(5.0) == 0
    [received] = fake_upstream.received(lagging)
    assert received.answered.is_set()
    assert not received.disconnected.is_set()


async def test_a_detached_reply_still_generating_after_the_grace_is_stored_incomplete(
    replica_with_grace: StartReplica, stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    server, on_draining = await replica_with_grace(0.5)
    session = await new_session(on_draining, owner)
    script = Script(tokens=200, delay=0.05)  # about 10 s
    call = on_draining.Send(detached(session.id, script.say()), metadata=owner.md)
    for _ in range(3):
        await read(call)
    call.cancel()

    server.signal(signal.SIGTERM)
    signalled = time.monotonic()

    assert await server.wait_exit(5.0) == 0
    assert time.monotonic() - signalled < 3.0
    [upstream] = fake_upstream.received(script)
    assert upstream.disconnected.is_set()
    replay = await attach(stub, owner, session.id)
    reply = replay[-1].completed.assistant_message
    assert reply.status == pb.MESSAGE_STATUS_INCOMPLETE
    assert reply.content.startswith(script.prefix(2))
    assert await lease_free(stub, owner, session.id)
