"""A database too slow or too busy to serve a call: a statement past the statement
timeout, or no pooled connection free within the pool timeout, is UNAVAILABLE
`DATABASE_UNAVAILABLE` (a retry may succeed), never INTERNAL, and changes nothing.

A row lock held by another connection stands in for the slow database: the call's
statement waits on it."""

import asyncio

import asyncpg
import grpc
from sessions_client import pb
from sessions_server.config import Settings

from tests.conftest import Owner
from tests.support import rows
from tests.support.calls import failure
from tests.support.locks import rename, row_locked, waits_on_a_lock
from tests.support.rpc import reason
from tests.support.sending import eventually, send_until_error
from tests.support.servers import server_with

UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")


async def test_statements_past_the_statement_timeout_are_unavailable_and_change_nothing(
    settings: Settings, database_url: str, admin: asyncpg.Connection, owner: Owner
) -> None:
    async with server_with(settings, database_url, statement_timeout_ms=300) as stub:
        created = await stub.Create(pb.CreateRequest(name="kept", model="m"), metadata=owner.md)
        session_id = created.session.id
        before = await rows.snapshot(admin, owner.name)

        async with row_locked(admin, owner, session_id):
            renaming = await failure(stub.Manage(rename(session_id, "lost"), metadata=owner.md))
            # Send opens on the driver connection, by another path: mapped alike.
            responses, sending = await send_until_error(stub, owner, session_id, "hello")

        assert reason(renaming) == UNAVAILABLE
        assert "statement timeout" in (renaming.details() or "")
        assert (reason(sending), responses) == (UNAVAILABLE, [])
        assert await rows.snapshot(admin, owner.name) == before
        # With the lock gone, the same calls go through.
        renamed = await stub.Manage(rename(session_id, "renamed"), metadata=owner.md)
        assert renamed.session.name == "renamed"


async def test_a_call_with_no_pooled_connection_free_in_time_is_unavailable(
    settings: Settings, database_url: str, admin: asyncpg.Connection, owner: Owner
) -> None:
    async with server_with(
        settings, database_url, db_pool_size=1, db_pool_timeout=0.3, statement_timeout_ms=10_000
    ) as stub:
        created = await stub.Create(pb.CreateRequest(name="kept", model="m"), metadata=owner.md)
        session_id = created.session.id

        async with row_locked(admin, owner, session_id):
            # The rename waits on the lock, holding the one pooled connection.
            blocked = asyncio.ensure_future(
                stub.Manage(rename(session_id, "renamed"), metadata=owner.md)
            )
            await eventually(lambda: waits_on_a_lock(admin))
            waiting = await failure(
                stub.Get(pb.GetRequest(session_id=session_id), metadata=owner.md)
            )
            assert not blocked.done()

        assert reason(waiting) == UNAVAILABLE
        assert "connection" in (waiting.details() or "")
        # The blocked call was only waiting: it completes once the lock is gone.
        assert (await blocked).session.name == "renamed"
