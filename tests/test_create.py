"""Create: the stored fields, model resolution through the registry, idempotency."""

import asyncio
import uuid

import asyncpg
import grpc
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support.calls import create, failure, list_all
from tests.support.rpc import field_violations, reason

# The registry of the test server (tests/conftest.py): `team` offers only
# "team-model", to the owner "team-owner" only; the built-in `echo` is the default.
TEAM = Owner("team-owner")


async def test_create_stores_every_field_with_name_trimmed(stub: Stub, owner: Owner) -> None:
    session = await create(
        stub,
        owner.md,
        name="  Trip planning \n",
        model="demo@echo",
        system_prompt="You plan trips.\nBriefly.",
        labels={"team": "travel", "tier": "gold"},
    )
    assert session.name == "Trip planning"
    assert (session.model, session.endpoint, session.endpoint_url) == ("demo", "echo", "echo:")
    assert session.system_prompt == "You plan trips.\nBriefly."
    assert dict(session.labels) == {"team": "travel", "tier": "gold"}
    assert session.message_count == 0
    assert not session.archived
    assert not session.starred
    assert session.forked_from == ""
    assert session.create_time.ToDatetime() > session.create_time.ToDatetime().min
    assert session.update_time == session.create_time
    assert session.last_active_time == session.create_time


async def test_create_returns_full_uuid_ids(stub: Stub, owner: Owner) -> None:
    sessions = await asyncio.gather(*(create(stub, owner.md, f"s{i}") for i in range(20)))
    ids = [s.id for s in sessions]
    assert len(set(ids)) == 20
    for session_id in ids:
        assert len(session_id) == 36
        assert str(uuid.UUID(session_id)) == session_id


async def test_created_session_reads_back_the_same(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md, "round trip", labels={"k": "v"})
    got = await stub.Get(pb.GetRequest(session_id=session.id), metadata=owner.md)
    assert got.session == session


async def test_bare_model_goes_to_the_default_echo_endpoint(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md, model="llama3.2")
    assert (session.model, session.endpoint, session.endpoint_url) == ("llama3.2", "echo", "echo:")


async def test_model_at_endpoint_picks_that_endpoint(stub: Stub) -> None:
    session = await create(stub, TEAM.md, model="team-model@team")
    assert (session.model, session.endpoint) == ("team-model", "team")
    assert session.endpoint_url == "http://127.0.0.1:9/v1"


async def test_bare_model_goes_to_the_endpoint_listing_it(stub: Stub) -> None:
    session = await create(stub, TEAM.md, model="team-model")
    assert session.endpoint == "team"


async def test_endpoint_without_models_accepts_any_model(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md, model="whatever-7b@echo")
    assert (session.model, session.endpoint) == ("whatever-7b", "echo")


async def test_endpoint_listing_models_refuses_others(stub: Stub) -> None:
    before = await list_all(stub, TEAM.md)
    error = await failure(create(stub, TEAM.md, model="other-model@team"))
    assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "MODEL_UNKNOWN")
    assert await list_all(stub, TEAM.md) == before


async def test_unknown_endpoint_is_model_unknown(stub: Stub, owner: Owner) -> None:
    error = await failure(create(stub, owner.md, model="demo@nowhere"))
    assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "MODEL_UNKNOWN")
    assert await list_all(stub, owner.md) == []


async def test_endpoint_with_empty_name_is_model_unknown(stub: Stub, owner: Owner) -> None:
    error = await failure(create(stub, owner.md, model="demo@"))
    assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "MODEL_UNKNOWN")
    assert await list_all(stub, owner.md) == []


async def test_endpoint_of_other_owners_reads_as_unknown(stub: Stub, owner: Owner) -> None:
    """The allow-list's endpoint gets the very answer of one that does not exist."""
    hidden = await failure(create(stub, owner.md, model="team-model@team"))
    missing = await failure(create(stub, owner.md, model="team-model@nowhere"))
    assert reason(hidden) == (grpc.StatusCode.INVALID_ARGUMENT, "MODEL_UNKNOWN")
    assert hidden.details() == missing.details()
    assert hidden.trailing_metadata() == missing.trailing_metadata()
    assert await list_all(stub, owner.md) == []


async def test_bare_model_of_a_hidden_endpoint_goes_to_the_default(
    stub: Stub, owner: Owner
) -> None:
    session = await create(stub, owner.md, model="team-model")
    assert session.endpoint == "echo"


async def test_empty_model_is_invalid(stub: Stub, owner: Owner) -> None:
    for model in ("", "   ", "@echo"):
        error = await failure(create(stub, owner.md, model=model))
        assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
        assert field_violations(error) == ["model"]
    assert await list_all(stub, owner.md) == []


async def test_create_with_same_request_id_returns_the_same_session(
    stub: Stub, owner: Owner
) -> None:
    first = await create(stub, owner.md, "once", request_id="req-1", labels={"a": "b"})
    again = await create(stub, owner.md, "once", request_id="req-1", labels={"a": "b"})
    assert again == first
    assert await list_all(stub, owner.md) == [first.id]


async def test_concurrent_creates_with_one_request_id_make_one_session(
    stub: Stub, owner: Owner
) -> None:
    # Each racer gets the one session, or ABORTED while the first is still running.
    outcomes = await asyncio.gather(
        *(create(stub, owner.md, "racing", request_id="race") for _ in range(12)),
        return_exceptions=True,
    )
    sessions = [o for o in outcomes if isinstance(o, pb.Session)]
    refused = [o for o in outcomes if not isinstance(o, pb.Session)]
    assert {s.id for s in sessions} == {sessions[0].id}
    assert all(
        isinstance(error, grpc.aio.AioRpcError)
        and reason(error) == (grpc.StatusCode.ABORTED, "REQUEST_IN_PROGRESS")
        for error in refused
    )
    assert await list_all(stub, owner.md) == [sessions[0].id]


async def test_create_repeated_while_the_first_runs_is_aborted_and_stores_nothing(
    stub: Stub, owner: Owner, admin: asyncpg.Connection
) -> None:
    # The admin connection holds the id as a first call in its transaction would.
    key = (owner.name, "slow-1")
    await admin.execute("SELECT pg_advisory_lock(request_lock_key($1, $2))", *key)
    try:
        error = await failure(create(stub, owner.md, "second", request_id="slow-1"))
    finally:
        await admin.execute("SELECT pg_advisory_unlock(request_lock_key($1, $2))", *key)

    assert reason(error) == (grpc.StatusCode.ABORTED, "REQUEST_IN_PROGRESS")
    assert await list_all(stub, owner.md) == []
    # Once the first call is over, the id is free again.
    created = await create(stub, owner.md, "second", request_id="slow-1")
    assert await list_all(stub, owner.md) == [created.id]


async def test_request_id_reused_with_another_payload_is_refused(stub: Stub, owner: Owner) -> None:
    first = await create(stub, owner.md, "original", request_id="req-2")
    for changed in (
        pb.CreateRequest(name="changed", model="demo"),
        pb.CreateRequest(name="original", model="other"),
        pb.CreateRequest(name="original", model="demo", system_prompt="new prompt"),
        pb.CreateRequest(name="original", model="demo", labels={"x": "y"}),
    ):
        changed.request_id = "req-2"
        error = await failure(stub.Create(changed, metadata=owner.md))
        assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_REUSED")
    assert await list_all(stub, owner.md) == [first.id]


async def test_request_id_is_scoped_to_its_owner(
    stub: Stub, owner: Owner, other_owner: Owner
) -> None:
    mine = await create(stub, owner.md, "same", request_id="shared-key")
    theirs = await create(stub, other_owner.md, "same", request_id="shared-key")
    assert mine.id != theirs.id
    assert await list_all(stub, other_owner.md) == [theirs.id]
