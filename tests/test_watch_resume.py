"""Resuming a watch: the events missed while away, each once, then live; expired ones
are refused."""

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from sessions_client import pb, pb_grpc
from sessions_server import database
from sessions_server.app import App
from sessions_server.auth import Actor, Principal
from sessions_server.config import Settings, maintenance_role
from sessions_server.errors import EventsExpired
from sessions_server.events import EventHub
from sessions_server.store import Store
from sessions_server.store import events as event_rows
from sessions_server.watch import WatchOperations

from tests.conftest import Owner, Stub
from tests.fixtures_replicas import Replicas
from tests.support.processes import start_server
from tests.support.rpc import reason
from tests.support.watching import Watcher


async def create(stub: Stub, owner: Owner, name: str) -> pb.Session:
    return (await stub.Create(pb.CreateRequest(name=name, model="m"), metadata=owner.md)).session


async def test_reconnect_with_last_event_id_receives_exactly_the_missed_events(
    replicas: Replicas, owner: Owner
) -> None:
    watcher = await Watcher.open(replicas.a.stub, owner.md)
    await create(replicas.a.stub, owner, "seen")
    last = (await watcher.next()).event_id
    await watcher.close()

    missed = [await create(replicas.a.stub, owner, f"missed {i}") for i in range(3)]

    resumed = await Watcher.open(replicas.b.stub, owner.md, after_event_id=last)
    try:
        events = await resumed.take(3)
        assert [e.session.id for e in events] == [s.id for s in missed]
        assert all(e.type == pb.EVENT_TYPE_CREATED for e in events)
        assert all(e.event_id > last for e in events)
        # Then live, and nothing of the three again.
        after = await create(replicas.a.stub, owner, "live")
        live = await resumed.next()
        assert live.session.id == after.id
        assert live.event_id > events[-1].event_id
        assert resumed.pending() == 0
    finally:
        await resumed.close()


async def test_replay_then_live_has_no_gap_and_no_duplicate(
    replicas: Replicas, owner: Owner
) -> None:
    """More events than one read returns, and more committed while they replay."""
    watcher = await Watcher.open(replicas.a.stub, owner.md)
    await create(replicas.a.stub, owner, "first")
    first = (await watcher.next()).event_id
    await watcher.close()
    before = [await create(replicas.b.stub, owner, f"before {i}") for i in range(150)]

    resumed = await Watcher.open(replicas.a.stub, owner.md, after_event_id=first)
    during = await asyncio.gather(
        *[create(replicas.b.stub, owner, f"during {i}") for i in range(20)]
    )
    try:
        events = await resumed.take(len(before) + len(during))
        ids = [e.event_id for e in events]
        assert ids == sorted(set(ids))
        assert [e.session.id for e in events[: len(before)]] == [s.id for s in before]
        assert {e.session.id for e in events[len(before) :]} == {s.id for s in during}
        assert resumed.pending() == 0
    finally:
        await resumed.close()


async def test_resume_from_an_expired_event_is_out_of_range(
    database_url: str, tmp_path: Path, owner: Owner
) -> None:
    pruning = await start_server(
        database_url,
        tmp_path,
        {"SESSIONS_EVENTS_RETENTION": "1", "SESSIONS_EVENTS_PRUNE_INTERVAL": "0.2"},
    )
    try:
        async with grpc.aio.insecure_channel(pruning.address) as channel:
            stub = pb_grpc.SessionServiceStub(channel)
            watcher = await Watcher.open(stub, owner.md)
            session = await create(stub, owner, "old")
            seen = (await watcher.next()).event_id
            await stub.Manage(
                pb.ManageRequest(session_id=session.id, rename=pb.Rename(name="older")),
                metadata=owner.md,
            )
            await watcher.next()
            await watcher.close()
            error = await _resume_until_refused(stub, owner, seen, within=10.0)
            assert reason(error) == (grpc.StatusCode.OUT_OF_RANGE, "EVENTS_EXPIRED")
    finally:
        pruning.stop()


async def _resume_until_refused(
    stub: Stub, owner: Owner, after_event_id: int, within: float
) -> grpc.aio.AioRpcError:
    """Resumes until the retention prune has removed what followed `after_event_id`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        call = stub.Watch(pb.WatchRequest(after_event_id=after_event_id), metadata=owner.md)
        try:
            await asyncio.wait_for(call.read(), 0.5)
        except grpc.aio.AioRpcError as error:
            return error
        finally:
            call.cancel()
        await asyncio.sleep(0.2)
    pytest.fail(f"resuming after event {after_event_id} was still served after {within} s")


async def test_watcher_that_falls_behind_the_retention_is_ended_expired(
    stub: Stub, server: App, database_url: str, settings: Settings, owner: Owner
) -> None:
    """Checked at every read, not only on resume: were the events after a watcher's
    position pruned before it read them, it is told so rather than skipping them."""
    session = await create(stub, owner, "s")
    store = Store(server.engine)
    watching = WatchOperations(
        store, EventHub(database_url, store, settings.database_connect_timeout)
    )
    principal = Principal(owner.name, Actor.USER)
    async with watching.open(principal, after_event_id=0) as events:
        await stub.Manage(
            pb.ManageRequest(session_id=session.id, star=pb.Star()), metadata=owner.md
        )
        pruning = database.create_engine(
            database_url, settings, role=maintenance_role(settings.database_role), pool_size=1
        )
        async with pruning.begin() as connection:
            await event_rows.prune(connection, timedelta(0))
        await pruning.dispose()
        with pytest.raises(EventsExpired):
            async with asyncio.timeout(5):
                await anext(events)
