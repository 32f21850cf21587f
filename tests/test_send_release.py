"""Whatever step of a Send fails, its session is free again at once: before the
endpoint is asked, while connecting, at the first delta, while storing the reply."""

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from sessions_client import pb
from sessions_server.config import Settings

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import MODEL, NUL_TEXT, FakeUpstream, Script
from tests.support.locks import row_locked
from tests.support.processes import free_port
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
from tests.support.servers import server_with


@pytest.fixture(scope="module")
async def faulty(
    settings: Settings,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_upstream: FakeUpstream,
) -> AsyncIterator[Stub]:
    """A server whose registry has endpoints that fail in set ways, and a short
    statement timeout."""
    registry = tmp_path_factory.mktemp("faulty") / "endpoints.toml"
    registry.write_text(
        f"""
[endpoints.dated]
url = "{fake_upstream.url}"
params = {{ stop_at = 1979-05-27 }}

[endpoints.closed]
url = "http://127.0.0.1:{free_port()}/v1"

[endpoints.fake]
url = "{fake_upstream.url}"
models = ["{MODEL}"]
"""
    )
    async with server_with(
        settings, database_url, endpoints_file=Path(registry), statement_timeout_ms=500
    ) as stub:
        yield stub


async def test_a_request_that_cannot_be_built_frees_the_session_at_once(
    faulty: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(faulty, owner, model="m@dated")
    script = Script()

    responses, error = await send_until_error(faulty, owner, session.id, script.say())

    assert error.code() == grpc.StatusCode.INTERNAL
    assert [r.WhichOneof("event") for r in responses] == ["started"]
    assert await lease_free(faulty, owner, session.id)
    assert fake_upstream.received(script) == []
    assert [m.role for m in await messages(faulty, owner, session.id)] == [pb.ROLE_USER]


async def test_an_endpoint_that_refuses_connections_frees_the_session_at_once(
    faulty: Stub, owner: Owner
) -> None:
    session = await new_session(faulty, owner, model="m@closed")

    _, error = await send_until_error(faulty, owner, session.id, "hello")

    assert reason(error) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
    assert await lease_free(faulty, owner, session.id)


async def test_a_malformed_first_delta_frees_the_session_at_once(
    faulty: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(faulty, owner)

    _, error = await send_until_error(
        faulty, owner, session.id, Script(malformed_after=0, tokens=3).say()
    )

    assert reason(error) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
    assert await lease_free(faulty, owner, session.id)


async def test_text_that_postgresql_cannot_hold_is_stored_with_a_replacement(
    faulty: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(faulty, owner)
    script = Script(tokens=2, nul_after=1)

    responses = await send(faulty, owner, session.id, script.say())

    expected = script.prefix(1) + NUL_TEXT.replace("\x00", "\ufffd") + script.prefix(2)[5:]
    reply = responses[-1].completed.assistant_message
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_COMPLETE, expected)
    assert "".join(r.delta.text for r in responses[1:-1]) == expected
    assert await lease_free(faulty, owner, session.id)


async def test_a_reply_whose_store_times_out_is_stored_once_the_database_answers(
    faulty: Stub, owner: Owner, admin: asyncpg.Connection, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(faulty, owner)
    script = Script(tokens=10, delay=0.05)
    call = faulty.Send(
        pb.SendRequest(session_id=session.id, content=script.say()), metadata=owner.md
    )
    await read(call)
    async with row_locked(admin, owner, session.id):
        # The reply ends while its closing write waits past the statement timeout.
        await eventually(lambda: _answered(fake_upstream, script), seconds=5)
        await eventually(lambda: _timed_out(admin), seconds=5)
    rest = await read_rest(call)

    reply = rest[-1].completed.assistant_message
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_COMPLETE, script.reply)
    assert await lease_free(faulty, owner, session.id)


async def _answered(fake_upstream: FakeUpstream, script: Script) -> bool:
    return all(r.answered.is_set() for r in fake_upstream.received(script))


async def _timed_out(admin: asyncpg.Connection) -> bool:
    """Whether no statement of the service waits on a lock (now that the closing
    write that did has passed its timeout)."""
    await admin.execute("SELECT pg_stat_clear_snapshot()")
    cancelled: int = await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'sessions-server' AND wait_event_type = 'Lock'"
    )
    return cancelled == 0
