"""Send refuses bad input with a clear status and stores nothing."""

import uuid

import asyncpg
import grpc
import pytest
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support import rows
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.rpc import field_violations, reason
from tests.support.sending import messages, new_session, read, send_until_error

MAX_MESSAGE_BYTES = 1024 * 1024


@pytest.mark.parametrize(
    "content",
    [
        "",
        "   \n\t ",
        "nul\x00inside",
        "x" * (MAX_MESSAGE_BYTES + 1),
        "é" * (MAX_MESSAGE_BYTES // 2 + 1),
    ],
    ids=["empty", "blank", "nul", "too-long", "too-many-bytes"],
)
async def test_bad_content_is_invalid_argument_and_stores_nothing(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream, content: str
) -> None:
    session = await new_session(stub, owner)
    seen = len(fake_upstream.requests)

    responses, error = await send_until_error(stub, owner, session.id, content)

    assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert field_violations(error) == ["content"]
    assert responses == []
    assert await messages(stub, owner, session.id) == []
    assert len(fake_upstream.requests) == seen


async def test_content_at_the_limit_is_accepted(stub: Stub, owner: Owner) -> None:
    session = await new_session(stub, owner, model="anything")
    content = "y" * MAX_MESSAGE_BYTES

    call = stub.Send(pb.SendRequest(session_id=session.id, content=content), metadata=owner.md)
    started = await read(call)

    assert started.started.user_message.content == content
    call.cancel()


@pytest.mark.parametrize("session_id", ["", "not-a-uuid", "1234", "0" * 36])
async def test_malformed_session_id_is_not_found(stub: Stub, owner: Owner, session_id: str) -> None:
    responses, error = await send_until_error(stub, owner, session_id, Script().say())

    assert reason(error) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    assert responses == []


async def test_another_owners_session_is_not_found_like_a_missing_one(
    stub: Stub, owner: Owner, other_owner: Owner, fake_upstream: FakeUpstream
) -> None:
    theirs = await new_session(stub, other_owner)
    missing = "5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5"
    script = Script()

    _, foreign = await send_until_error(stub, owner, theirs.id, script.say())
    _, absent = await send_until_error(stub, owner, missing, script.say())

    assert reason(foreign) == reason(absent) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    assert foreign.details() == absent.details()
    assert await messages(stub, other_owner, theirs.id) == []
    assert fake_upstream.received(script) == []


@pytest.mark.parametrize("request_id", ["r" * 201, "line\nbreak", "nul\x00"])
async def test_bad_request_id_is_invalid_argument(
    stub: Stub, owner: Owner, request_id: str
) -> None:
    session = await new_session(stub, owner)

    _, error = await send_until_error(stub, owner, session.id, "hi", request_id=request_id)

    assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert field_violations(error) == ["request_id"]
    assert await messages(stub, owner, session.id) == []


async def retire_endpoint(admin: asyncpg.Connection, owner: Owner, session_id: str) -> None:
    """Points the session at an endpoint the registry does not have (any more)."""
    await admin.execute(
        "UPDATE sessions SET endpoint = 'retired' WHERE owner = $1 AND id = $2",
        owner.name,
        uuid.UUID(session_id),
    )


async def test_session_on_an_endpoint_no_longer_configured_is_model_unknown(
    stub: Stub, owner: Owner, admin: asyncpg.Connection, fake_upstream: FakeUpstream
) -> None:
    # The registry changed after the session was created: its endpoint is gone.
    session = await new_session(stub, owner)
    await retire_endpoint(admin, owner, session.id)
    before = await rows.snapshot(admin, owner.name)
    seen = len(fake_upstream.requests)

    for request_id in ("", "retry-key-1"):
        responses, error = await send_until_error(
            stub, owner, session.id, Script().say(), request_id=request_id
        )

        assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "MODEL_UNKNOWN")
        assert responses == []
    assert await rows.snapshot(admin, owner.name) == before
    assert len(fake_upstream.requests) == seen


async def test_resuming_a_send_whose_endpoint_is_gone_is_model_unknown(
    stub: Stub, owner: Owner, admin: asyncpg.Connection, fake_upstream: FakeUpstream
) -> None:
    # The first call stored its user message, then the endpoint failed: a repeat
    # of its request_id would resume it, but the endpoint is gone meanwhile.
    session = await new_session(stub, owner)
    failing = Script(statuses=[{"status": 500}] * 3)
    _, first = await send_until_error(stub, owner, session.id, failing.say(), request_id="r-1")
    assert reason(first)[1] != "MODEL_UNKNOWN"
    await retire_endpoint(admin, owner, session.id)
    before = await rows.snapshot(admin, owner.name)
    seen = len(fake_upstream.requests)

    responses, error = await send_until_error(
        stub, owner, session.id, failing.say(), request_id="r-1"
    )

    assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "MODEL_UNKNOWN")
    assert responses == []
    assert await rows.snapshot(admin, owner.name) == before
    assert len(fake_upstream.requests) == seen
