"""Resource limits (OWASP API4): request size, metadata size, calls per connection
and calls per server, each configurable and each enforced before any handler.

A call is kept in flight by holding, from an admin connection, the row lock its
Manage needs; PostgreSQL shows when the service's statement waits on it.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import grpc
import pytest
from sessions_client import pb, pb_grpc
from sessions_server.app import build_server
from sessions_server.config import Settings

from tests.conftest import Owner, Stub
from tests.support import rows
from tests.support.locks import rename, row_locked, waits_on_a_lock
from tests.support.sending import eventually
from tests.support.servers import server_with


@asynccontextmanager
async def serving(settings: Settings, database_url: str, **changes: object) -> AsyncIterator[int]:
    """A server like the shared one but for `changes`; yields its port."""
    app = await build_server(settings.model_copy(update=changes), database_url)
    try:
        yield app.port
    finally:
        await app.stop(None)


async def test_request_over_the_size_limit_is_refused_and_stores_nothing(
    settings: Settings, database_url: str, admin: asyncpg.Connection, owner: Owner
) -> None:
    async with server_with(settings, database_url, max_receive_bytes=4096) as stub:
        big = pb.CreateRequest(name="big", model="m", system_prompt="x" * 5000)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Create(big, metadata=owner.md)
        assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (await rows.snapshot(admin, owner.name))["sessions"] == []
        await stub.Create(pb.CreateRequest(name="small", model="m"), metadata=owner.md)


async def test_metadata_over_the_size_limit_is_refused(
    settings: Settings, database_url: str, owner: Owner
) -> None:
    async with server_with(settings, database_url, max_metadata_bytes=4096) as stub:
        await stub.List(pb.ListRequest(), metadata=(*owner.md, ("x-pad", "p" * 3000)))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.List(pb.ListRequest(), metadata=(*owner.md, ("x-pad", "p" * 5000)))
        assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_calls_past_the_server_wide_cap_are_refused(
    settings: Settings, database_url: str, admin: asyncpg.Connection, owner: Owner
) -> None:
    async with (
        serving(settings, database_url, max_concurrent_rpcs=1) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        stub: Stub = pb_grpc.SessionServiceStub(channel)
        created = await stub.Create(pb.CreateRequest(name="busy", model="m"), metadata=owner.md)
        async with row_locked(admin, owner, created.session.id):
            blocked = asyncio.ensure_future(
                stub.Manage(rename(created.session.id, "renamed"), metadata=owner.md)
            )
            await eventually(lambda: waits_on_a_lock(admin))
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.List(pb.ListRequest(), metadata=owner.md)
            assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (await blocked).session.name == "renamed"
        await stub.List(pb.ListRequest(), metadata=owner.md)


async def test_calls_past_the_per_connection_cap_wait_for_a_free_stream(
    settings: Settings, database_url: str, admin: asyncpg.Connection, owner: Owner
) -> None:
    # A private subchannel pool gives the second channel a connection of its own.
    separate = [("grpc.use_local_subchannel_pool", 1)]
    async with (
        serving(settings, database_url, max_concurrent_streams=1) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=separate) as other_channel,
    ):
        stub: Stub = pb_grpc.SessionServiceStub(channel)
        other: Stub = pb_grpc.SessionServiceStub(other_channel)
        created = await stub.Create(pb.CreateRequest(name="busy", model="m"), metadata=owner.md)
        async with row_locked(admin, owner, created.session.id):
            blocked = asyncio.ensure_future(
                stub.Manage(rename(created.session.id, "renamed"), metadata=owner.md)
            )
            await eventually(lambda: waits_on_a_lock(admin))
            queued = asyncio.ensure_future(stub.List(pb.ListRequest(), metadata=owner.md))
            # Another connection is served meanwhile; this one's second call waits.
            await other.List(pb.ListRequest(), metadata=owner.md)
            await asyncio.sleep(0.3)
            assert not queued.done()
        assert (await blocked).session.name == "renamed"
        assert (await queued).total_size == 1


async def test_a_burst_past_the_per_connection_cap_is_refused_before_running(
    settings: Settings, database_url: str, admin: asyncpg.Connection, owner: Owner
) -> None:
    async with server_with(settings, database_url, max_concurrent_streams=4) as stub:
        outcomes = await asyncio.gather(
            *(
                stub.Create(pb.CreateRequest(name=f"burst {i}", model="m"), metadata=owner.md)
                for i in range(40)
            ),
            return_exceptions=True,
        )
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(
        isinstance(o, grpc.aio.AioRpcError) and o.code() is grpc.StatusCode.UNAVAILABLE
        for o in refused
    ), refused
    # Whatever was refused never ran: exactly the answered Creates are stored.
    stored = (await rows.snapshot(admin, owner.name))["sessions"]
    assert len(stored) == len(outcomes) - len(refused)
