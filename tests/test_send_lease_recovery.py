"""The Send lease across server processes on one database: it holds while a reply
streams (renewed past its length), and lapses when its process dies."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import pytest
from sessions_client import pb, pb_grpc

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.processes import ServerProcess, start_server
from tests.support.rpc import reason, retried
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

LEASE_SECONDS = 1.0


@pytest.fixture(scope="module")
def replica_env(endpoints_file: Path) -> dict[str, str]:
    return {
        "SESSIONS_ENDPOINTS_FILE": str(endpoints_file),
        "SESSIONS_LEASE_SECONDS": str(LEASE_SECONDS),
        "SESSIONS_SHUTDOWN_GRACE": "0.5",
    }


@pytest.fixture(scope="module")
async def replicas(
    database_url: str,
    replica_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    fake_upstream: FakeUpstream,
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    logs = tmp_path_factory.mktemp("replicas")
    first, second = await asyncio.gather(
        start_server(database_url, logs, replica_env), start_server(database_url, logs, replica_env)
    )
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def stub_of(channel: grpc.aio.Channel) -> Stub:
    return pb_grpc.SessionServiceStub(channel)


async def test_lease_outlives_its_length_while_the_reply_streams(
    replicas: tuple[ServerProcess, ServerProcess], owner: Owner
) -> None:
    first, second = replicas
    async with (
        grpc.aio.insecure_channel(first.address) as a,
        grpc.aio.insecure_channel(second.address) as b,
    ):
        session = await new_session(stub_of(a), owner)
        script = Script(tokens=40, delay=0.06)  # about 2.4 s, well past the lease
        call = stub_of(a).Send(
            pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md
        )
        await read(call)
        await asyncio.sleep(LEASE_SECONDS * 1.5)

        _, error = await send_until_error(stub_of(b), owner, session.id, Script().say())

        assert reason(error) == (grpc.StatusCode.ABORTED, "SESSION_BUSY")
        rest = await read_rest(call)
        reply = rest[-1].completed.assistant_message
        assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_COMPLETE, script.reply)
        after = await send(stub_of(b), owner, session.id, Script().say())
        assert after[-1].completed.assistant_message.status == pb.MESSAGE_STATUS_COMPLETE


@dataclass
class Doomed:
    """A replica of the test's own, to be killed mid-reply, and a survivor."""

    process: ServerProcess
    stub: Stub
    survivor: Stub


@pytest.fixture
async def doomed(
    database_url: str,
    replica_env: dict[str, str],
    replicas: tuple[ServerProcess, ServerProcess],
    tmp_path: Path,
) -> AsyncIterator[Doomed]:
    _, survivor = replicas
    victim = await start_server(database_url, tmp_path, replica_env)
    try:
        async with (
            grpc.aio.insecure_channel(victim.address) as v,
            grpc.aio.insecure_channel(survivor.address) as s,
        ):
            yield Doomed(victim, stub_of(v), stub_of(s))
    finally:
        victim.stop()


async def test_killed_server_keeps_the_flushed_reply_settled_incomplete_after_the_lease(
    doomed: Doomed, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    survivor = doomed.survivor
    session = await new_session(doomed.stub, owner)
    script = Script(tokens=500, delay=0.02)
    call = doomed.stub.Send(
        pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md
    )
    for _ in range(4):
        await read(call)
    flushed = await _flushed_text(survivor, owner, session.id)

    doomed.process.kill()
    killed = time.monotonic()
    _, held = await send_until_error(survivor, owner, session.id, Script().say())
    assert reason(held) == (grpc.StatusCode.ABORTED, "SESSION_BUSY")
    later = Script(tokens=2)
    after = await _send_once_free(survivor, owner, session.id, later.say())

    assert time.monotonic() - killed < LEASE_SECONDS + 3
    assert after[-1].completed.assistant_message.status == pb.MESSAGE_STATUS_COMPLETE
    stored = await messages(survivor, owner, session.id)
    assert [(m.role, m.status) for m in stored] == [
        (pb.ROLE_USER, pb.MESSAGE_STATUS_COMPLETE),
        (pb.ROLE_ASSISTANT, pb.MESSAGE_STATUS_INCOMPLETE),
        (pb.ROLE_USER, pb.MESSAGE_STATUS_COMPLETE),
        (pb.ROLE_ASSISTANT, pb.MESSAGE_STATUS_COMPLETE),
    ]
    cut = stored[1].content
    assert cut.startswith(flushed)
    assert script.reply.startswith(cut)
    assert len(cut) < len(script.reply)
    assert [m.content for m in stored[2:]] == [later.say(), later.reply]


async def test_a_reply_whose_process_died_is_settled_by_get_once_its_lease_lapsed(
    doomed: Doomed, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    survivor = doomed.survivor
    session = await new_session(doomed.stub, owner)
    script = Script(tokens=500, delay=0.02)
    call = doomed.stub.Send(
        pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md
    )
    await read(call)
    flushed = await _flushed_text(survivor, owner, session.id)
    doomed.process.kill()

    await asyncio.sleep(LEASE_SECONDS + 0.2)
    _, reply = await messages(survivor, owner, session.id)

    assert reply.status == pb.MESSAGE_STATUS_INCOMPLETE
    assert reply.content.startswith(flushed)
    assert await lease_free(survivor, owner, session.id)


async def _flushed_text(stub: Stub, owner: Owner, session_id: str) -> str:
    """The reply's text once some is stored, as Get shows it while it streams."""

    async def some_stored() -> bool:
        return bool((await messages(stub, owner, session_id))[-1].content)

    await eventually(some_stored)
    _, reply = await messages(stub, owner, session_id)
    assert reply.status == pb.MESSAGE_STATUS_IN_PROGRESS
    return reply.content


async def _send_once_free(
    stub: Stub, owner: Owner, session_id: str, content: str
) -> list[pb.SendResponse]:
    """Sends as soon as the session's lease lets it, retrying SESSION_BUSY."""
    return await retried(
        lambda: send(stub, owner, session_id, content),
        (grpc.StatusCode.ABORTED, "SESSION_BUSY"),
        seconds=10,
        interval=0.05,
    )


async def test_send_whose_lease_was_taken_over_stores_no_reply(
    stub: Stub, owner: Owner, database_url: str, fake_upstream: FakeUpstream
) -> None:
    """Another holder took the session over (as after a lapse): the first Send may
    not write any more, and says so."""
    session = await new_session(stub, owner)
    script = Script(tokens=20, delay=0.02)
    call = stub.Send(pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md)
    await read(call)
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await connection.execute(
            "UPDATE sessions SET lease_token = gen_random_uuid() WHERE owner = $1 AND id = $2",
            owner.name,
            uuid.UUID(session.id),
        )
    finally:
        await connection.close()

    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await read_rest(call)

    assert reason(ended.value) == (grpc.StatusCode.ABORTED, "SESSION_BUSY")
    # The reply stays as the Send left it; the session's new holder settles it.
    _, reply = await messages(stub, owner, session.id)
    assert reply.status == pb.MESSAGE_STATUS_IN_PROGRESS
    assert len(reply.content) < len(script.reply)
