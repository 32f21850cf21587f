"""The Python client against the real server: each method, and errors with their reason."""

import asyncio
import time
import uuid

import asyncpg
import pytest
from sessions_client import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    SessionsClient,
    Unauthenticated,
    pb,
)
from sessions_server.app import App

from tests.conftest import Owner
from tests.support.scripted_service import scripted_server
from tests.support.sending import eventually


async def test_create_returns_the_stored_session(client: SessionsClient) -> None:
    session = await client.create(
        "  Trip planning ", "demo@echo", system_prompt="Be brief.", labels={"team": "core"}
    )
    assert uuid.UUID(session.id)
    assert (session.name, session.model, session.endpoint) == ("Trip planning", "demo", "echo")
    assert session.system_prompt == "Be brief."
    assert dict(session.labels) == {"team": "core"}
    assert session.message_count == 0


async def test_create_with_the_same_request_id_returns_the_same_session(
    client: SessionsClient,
) -> None:
    first = await client.create("once", "demo", request_id="create-1")
    again = await client.create("once", "demo", request_id="create-1")
    assert again.id == first.id
    assert (await client.list()).total_size == 1


async def test_create_repeated_while_the_first_runs_is_retried_until_it_is_over(
    client: SessionsClient, owner: Owner, admin: asyncpg.Connection, server: App
) -> None:
    # The admin connection holds the id as a first call still in its transaction
    # would: the server answers ABORTED until it lets go, and the client retries.
    def aborted() -> float:
        labels = {"method": "Create", "code": "ABORTED"}
        return server.metrics.registry.get_sample_value("sessions_rpcs_total", labels) or 0.0

    async def refused_once_more() -> bool:
        return aborted() > refused

    key = (owner.name, "create-held")
    refused = aborted()
    await admin.execute("SELECT pg_advisory_lock(request_lock_key($1, $2))", *key)
    creating = asyncio.create_task(client.create("held", "demo", request_id="create-held"))
    await eventually(refused_once_more, interval=0.002)
    await admin.execute("SELECT pg_advisory_unlock(request_lock_key($1, $2))", *key)

    session = await creating
    assert session.name == "held"
    assert [s.id for s in (await client.list()).sessions] == [session.id]


async def test_get_returns_the_session(client: SessionsClient) -> None:
    session = await client.create("read me", "demo")
    got = await client.get(session.id, messages_limit=10)
    assert got.session == session
    assert list(got.messages) == []
    assert not got.has_more


async def test_list_filters_by_query_and_pages_through_all(client: SessionsClient) -> None:
    names = ["alpha one", "alpha two", "alpha three", "beta"]
    for name in names:
        await client.create(name, "demo")
    page = await client.list(query="ALPHA", page_size=2)
    assert page.total_size == 3
    assert len(page.sessions) == 2
    assert page.next_page_token
    every = [s.name async for s in client.list_all(query="alpha", page_size=2)]
    assert every == ["alpha three", "alpha two", "alpha one"]


async def test_rename_archive_unarchive_star_unstar(client: SessionsClient) -> None:
    session = await client.create("before", "demo")
    assert (await client.rename(session.id, "after")).session.name == "after"
    assert (await client.archive(session.id)).session.archived
    assert (await client.list()).total_size == 0
    listed = await client.list(archived=pb.ARCHIVED_FILTER_ONLY)
    assert [s.id for s in listed.sessions] == [session.id]
    assert not (await client.unarchive(session.id)).session.archived
    assert (await client.star(session.id)).session.starred
    assert [s.id for s in (await client.list(starred_only=True)).sessions] == [session.id]
    assert not (await client.unstar(session.id)).session.starred


async def test_truncate_and_fork_report_their_counts(client: SessionsClient) -> None:
    session = await client.create("source", "demo")
    truncated = await client.truncate(session.id, 3)
    assert (truncated.session.id, truncated.messages_removed) == (session.id, 0)
    fork = await client.fork(session.id, keep_first=2)
    assert fork.session.id != session.id
    assert fork.session.forked_from == session.id
    assert fork.session.name == "Fork: source"
    assert fork.messages_copied == 0
    named = await client.fork(session.id, name="copy")
    assert named.session.name == "copy"


async def test_delete_removes_the_session(client: SessionsClient) -> None:
    session = await client.create("doomed", "demo")
    deleted = await client.delete(session.id)
    assert deleted.deleted
    assert deleted.session.id == session.id
    with pytest.raises(NotFound):
        await client.get(session.id)


async def test_missing_session_raises_not_found_with_its_reason(client: SessionsClient) -> None:
    with pytest.raises(NotFound) as raised:
        await client.get(str(uuid.uuid4()))
    assert raised.value.reason == "SESSION_NOT_FOUND"
    assert raised.value.code.name == "NOT_FOUND"


async def test_another_owners_session_is_not_found(
    client: SessionsClient, shared_client: SessionsClient
) -> None:
    session = await client.create("mine", "demo")
    stranger = shared_client.with_identity(owner=f"stranger-{uuid.uuid4().hex[:8]}")
    with pytest.raises(NotFound) as raised:
        await stranger.rename(session.id, "theirs")
    assert raised.value.reason == "SESSION_NOT_FOUND"


async def test_invalid_name_raises_invalid_argument_naming_the_field(
    client: SessionsClient,
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await client.create("   ", "demo")
    assert raised.value.reason == "INVALID_ARGUMENT"
    assert [v.field for v in raised.value.violations] == ["name"]


async def test_unknown_model_raises_model_unknown(client: SessionsClient) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await client.create("x", "demo@nowhere")
    assert raised.value.reason == "MODEL_UNKNOWN"


async def test_deleting_a_starred_or_current_session_fails_its_precondition(
    client: SessionsClient,
) -> None:
    starred = await client.create("keep", "demo")
    await client.star(starred.id)
    with pytest.raises(FailedPrecondition) as raised:
        await client.delete(starred.id)
    assert raised.value.reason == "SESSION_STARRED"
    current = await client.create("here", "demo")
    with pytest.raises(FailedPrecondition) as raised:
        await client.delete("current", current_session_id=current.id)
    assert raised.value.reason == "SESSION_IS_CURRENT"


async def test_agent_unstar_raises_permission_denied(
    client: SessionsClient, agent_client: SessionsClient
) -> None:
    session = await client.create("kept", "demo")
    await agent_client.star(session.id)
    with pytest.raises(PermissionDenied) as raised:
        await agent_client.unstar(session.id)
    assert raised.value.reason == "UNSTAR_FORBIDDEN"
    assert (await client.get(session.id)).session.starred


async def test_call_without_identity_raises_unauthenticated(
    shared_client: SessionsClient,
) -> None:
    with pytest.raises(Unauthenticated) as raised:
        await shared_client.list()
    assert raised.value.reason == "UNAUTHENTICATED"


async def test_default_deadline_is_honoured() -> None:
    async with (
        scripted_server() as running,
        SessionsClient(f"127.0.0.1:{running.port}", timeout=0.3) as client,
    ):
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as raised:
            await client.get("sleep-5")
        assert time.monotonic() - started < 2.0
        assert raised.value.reason == "DEADLINE_EXCEEDED"


async def test_per_call_timeout_overrides_the_default() -> None:
    async with (
        scripted_server() as running,
        SessionsClient(f"127.0.0.1:{running.port}", timeout=0.2) as client,
    ):
        got = await client.get("sleep-0.5", timeout=5.0)
        assert got.session.id == "sleep-0.5"
        with pytest.raises(DeadlineExceeded):
            await client.get("sleep-5", timeout=0.2)


async def test_watch_yields_the_callers_changes_and_resumes_after_an_event(
    client: SessionsClient,
) -> None:
    events = client.watch()
    first = asyncio.ensure_future(anext(events))
    created_ids = []
    # Until the watch is established a change may come before it: keep changing.
    deadline = time.monotonic() + 10
    while not first.done() and time.monotonic() < deadline:
        created_ids.append((await client.create("watched", "demo")).id)
        await asyncio.wait([first], timeout=0.2)
    created = await first
    await events.aclose()
    assert created.type == pb.EVENT_TYPE_CREATED
    assert created.session.id in created_ids
    session = created.session

    await client.rename(session.id, "renamed")
    resumed = client.watch(after_event_id=created.event_id)
    updated = await asyncio.wait_for(anext(resumed), 10)
    await resumed.aclose()
    assert updated.type == pb.EVENT_TYPE_UPDATED
    assert updated.session.name == "renamed"
    assert updated.event_id > created.event_id
