"""When the model endpoint fails: retries before the first token only, the status
the caller gets, and what stays stored."""

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from sessions_client import pb
from sessions_server.config import Settings

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import API_KEY, SECRET, FakeUpstream, Script
from tests.support.rpc import error_info, reason
from tests.support.sending import (
    eventually,
    kinds,
    lease_free,
    messages,
    new_session,
    send,
    send_until_error,
    streamed_text,
)
from tests.support.servers import server_with


@pytest.fixture(scope="module")
async def impatient(settings: Settings, database_url: str) -> AsyncIterator[Stub]:
    """A server that waits 0.3 s for a first token and between tokens."""
    async with server_with(
        settings, database_url, upstream_first_token_timeout=0.3, upstream_idle_timeout=0.3
    ) as stub:
        yield stub


async def test_server_error_is_unavailable_after_two_retries_and_keeps_user_message(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(statuses=[{"status": 500}] * 3)

    responses, error = await send_until_error(stub, owner, session.id, script.say())

    assert reason(error) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
    assert kinds(responses) == ["started"]
    assert len(fake_upstream.received(script)) == 3
    assert [m.content for m in await messages(stub, owner, session.id)] == [script.say()]
    assert await lease_free(stub, owner, session.id)


@pytest.mark.parametrize("status", [429, 408, 409, 500, 503])
async def test_one_retryable_refusal_then_success_completes(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream, status: int
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=3, statuses=[{"status": status, "retry_after": 0}])

    responses = await send(stub, owner, session.id, script.say())

    assert responses[-1].completed.assistant_message.content == script.reply
    assert len(fake_upstream.received(script)) == 2


async def test_retry_waits_as_long_as_retry_after_asks(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(statuses=[{"status": 503, "retry_after": 0.4}])

    await send(stub, owner, session.id, script.say())

    first, second = fake_upstream.received(script)
    assert second.at - first.at >= 0.4


async def test_rate_limit_that_persists_is_resource_exhausted(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(statuses=[{"status": 429, "retry_after": 0}] * 3)

    _, error = await send_until_error(stub, owner, session.id, script.say())

    assert reason(error) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "UPSTREAM_RATE_LIMITED")
    assert len(fake_upstream.received(script)) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_rejection_is_not_retried_and_reveals_nothing_upstream(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream, status: int
) -> None:
    session = await new_session(stub, owner)
    script = Script(statuses=[{"status": status}])

    responses, error = await send_until_error(stub, owner, session.id, script.say())

    assert reason(error) == (grpc.StatusCode.FAILED_PRECONDITION, "UPSTREAM_REJECTED")
    assert kinds(responses) == ["started"]
    assert len(fake_upstream.received(script)) == 1
    for leak in (SECRET, API_KEY):
        assert leak not in (error.details() or "")
        assert leak not in str(error_info(error))
        assert leak not in str(error.trailing_metadata())
    assert [m.role for m in await messages(stub, owner, session.id)] == [pb.ROLE_USER]


async def test_hang_ends_at_the_caller_deadline_and_releases_the_lease(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(hang=True)

    responses, error = await send_until_error(
        stub, owner, session.id, script.say(), grpc_timeout=1.0
    )

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert kinds(responses) == ["started"]
    await eventually(lambda: lease_free(stub, owner, session.id))
    [received] = fake_upstream.received(script)
    assert received.disconnected.is_set()
    assert [m.role for m in await messages(stub, owner, session.id)] == [pb.ROLE_USER]


@pytest.mark.parametrize(
    "script",
    [Script(tokens=10, cut_after=4), Script(tokens=10, malformed_after=4)],
    ids=["cut", "malformed"],
)
async def test_broken_stream_after_tokens_is_unavailable_and_stores_partial_failed(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream, script: Script
) -> None:
    session = await new_session(stub, owner)

    responses, error = await send_until_error(stub, owner, session.id, script.say())

    assert reason(error) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
    assert set(kinds(responses[1:])) == {"delta"}
    assert streamed_text(responses) == script.prefix(4)
    assert len(fake_upstream.received(script)) == 1
    user, reply = await messages(stub, owner, session.id)
    assert user.content == script.say()
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_FAILED, script.prefix(4))
    assert await lease_free(stub, owner, session.id)


async def test_broken_stream_before_any_token_is_retried(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=5, malformed_after=0)

    _, error = await send_until_error(stub, owner, session.id, script.say())

    assert reason(error) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
    assert len(fake_upstream.received(script)) == 3
    assert [m.role for m in await messages(stub, owner, session.id)] == [pb.ROLE_USER]


async def test_unreachable_endpoint_is_unavailable(stub: Stub) -> None:
    # The registry's `team` endpoint points at a closed port, for this owner only.
    team = Owner("team-owner")
    session = await new_session(stub, team, model="team-model")

    _, error = await send_until_error(stub, team, session.id, "anyone there?")

    assert reason(error) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
    assert await lease_free(stub, team, session.id)


async def test_stall_mid_stream_times_out_and_stores_partial_failed(
    impatient: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(impatient, owner)
    script = Script(tokens=10, stall_after=3)

    responses, error = await send_until_error(impatient, owner, session.id, script.say())

    assert reason(error) == (grpc.StatusCode.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT")
    assert set(kinds(responses[1:])) == {"delta"}
    assert streamed_text(responses) == script.prefix(3)
    _, reply = await messages(impatient, owner, session.id)
    assert (reply.status, reply.content) == (pb.MESSAGE_STATUS_FAILED, script.prefix(3))
    [received] = fake_upstream.received(script)
    await asyncio.wait_for(received.disconnected.wait(), 1.0)


async def test_no_first_token_in_time_is_upstream_timeout(
    impatient: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(impatient, owner)
    script = Script(hang=True)

    _, error = await send_until_error(impatient, owner, session.id, script.say())

    assert reason(error) == (grpc.StatusCode.DEADLINE_EXCEEDED, "UPSTREAM_TIMEOUT")
    assert len(fake_upstream.received(script)) == 3
    assert await lease_free(impatient, owner, session.id)
