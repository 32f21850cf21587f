"""A watcher outlives a restart of PostgreSQL, or the loss of the listener's
connection, and then receives every event committed meanwhile, each once."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from sessions_client import pb, pb_grpc
from sessions_server import database
from sessions_server.events import APPLICATION_NAME, direct_dsn

from tests.conftest import Owner, Stub
from tests.fixtures_replicas import Replicas
from tests.support.cluster import Cluster, throwaway_cluster
from tests.support.processes import ServerProcess, start_server
from tests.support.watching import Watcher

LISTENING = "events listener is listening"


async def wait_for_log(process: ServerProcess, text: str, within: float) -> None:
    deadline = time.monotonic() + within
    while text not in process.log():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not logged within {within} s:\n{process.log()}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    with throwaway_cluster() as cluster:
        await asyncio.to_thread(database.migrate, cluster.url)
        yield cluster


async def create_retrying(stub: Stub, owner: Owner, name: str, within: float = 20.0) -> str:
    """Creates a session once the database answers again (the request_id makes the
    retries safe); returns its id."""
    request = pb.CreateRequest(name=name, model="m", request_id=f"create {name}")
    deadline = time.monotonic() + within
    while True:
        try:
            return (await stub.Create(request, metadata=owner.md, timeout=5)).session.id
        except grpc.aio.AioRpcError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_watcher_gets_every_event_once_after_a_database_restart(
    cluster: Cluster, tmp_path: Path, owner: Owner
) -> None:
    a = await start_server(cluster.url, tmp_path)
    b = await start_server(cluster.url, tmp_path)
    try:
        async with (
            grpc.aio.insecure_channel(a.address) as channel_a,
            grpc.aio.insecure_channel(b.address) as channel_b,
        ):
            on_a = pb_grpc.SessionServiceStub(channel_a)
            watcher = await Watcher.open(pb_grpc.SessionServiceStub(channel_b), owner.md)
            before = await create_retrying(on_a, owner, "before")
            assert (await watcher.next()).session.id == before

            await asyncio.to_thread(cluster.stop)
            # B's listener backs off while the database is down: once it waits
            # 3.2 s before its next try, start the database and commit at once,
            # so that B hears nothing of these events and must catch up.
            await wait_for_log(b, "retry in 3.2 s", within=20.0)
            await asyncio.to_thread(cluster.start)
            meanwhile = [await create_retrying(on_a, owner, f"after {i}") for i in range(3)]
            assert b.log().count(LISTENING) == 1, "B listened again before the commits"
            events = await watcher.take(3, within=20.0)
            assert [e.session.id for e in events] == meanwhile
            assert all(e.type == pb.EVENT_TYPE_CREATED for e in events)

            live = await create_retrying(on_a, owner, "live")
            event = await watcher.next()
            assert event.session.id == live
            assert event.event_id > events[-1].event_id
            assert watcher.pending() == 0
            await watcher.close()
    finally:
        a.stop()
        b.stop()
    assert b.log().count(LISTENING) == 2


async def test_events_committed_while_the_listener_is_cut_off_arrive_once(
    replicas: Replicas, database_url: str, owner: Owner
) -> None:
    watcher = await Watcher.open(replicas.b.stub, owner.md)
    try:
        first = await create_retrying(replicas.a.stub, owner, "first")
        assert (await watcher.next()).session.id == first
        admin = await asyncpg.connect(direct_dsn(database_url))
        try:
            cut = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = $1",
                APPLICATION_NAME,
            )
        finally:
            await admin.close()
        assert cut >= 2
        meanwhile = [await create_retrying(replicas.a.stub, owner, f"cut {i}") for i in range(3)]
        events = await watcher.take(3)
        assert [e.session.id for e in events] == meanwhile
        live = await create_retrying(replicas.a.stub, owner, "live")
        assert (await watcher.next()).session.id == live
        assert watcher.pending() == 0
    finally:
        await watcher.close()
