"""Writes NOTIFY only for owners some replica watches (migration 0010): a commit
that NOTIFYs waits on every other one in the cluster, so an owner nobody watches
costs none. A Watch marks its owner before it first reads, under the owner's event
lock, so an event committing meanwhile is read or notified, never lost."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sessions_client import pb
from sessions_server import events
from sessions_server.app import App
from sessions_server.auth import Actor, Principal
from sessions_server.config import Settings
from sessions_server.events import EventHub
from sessions_server.store import Store
from sessions_server.store.events import CHANNEL
from sessions_server.watch import WatchOperations

from tests.conftest import Owner, Stub
from tests.support.database import asyncpg_url
from tests.support.fake_upstream import Script
from tests.support.locks import waits_on_a_lock
from tests.support.sending import eventually, new_session, send
from tests.support.watching import Watcher

QUIET = 0.3
"""Seconds a notification that would come has had to arrive."""


@pytest.fixture
async def notified(database_url: str) -> AsyncIterator[list[str]]:
    """The owners of the notifications on the events channel, as they arrive."""
    owners: list[str] = []
    listener = await asyncpg.connect(asyncpg_url(database_url))
    await listener.add_listener(CHANNEL, lambda *args: owners.append(json.loads(args[-1])["owner"]))
    yield owners
    await listener.close()


async def test_the_writes_of_an_owner_nobody_watches_notify_nothing(
    stub: Stub, owner: Owner, notified: list[str]
) -> None:
    session = await new_session(stub, owner)
    await send(stub, owner, session.id, Script().say())
    await asyncio.sleep(QUIET)

    assert owner.name not in notified


async def test_a_watched_owners_writes_notify_and_another_owners_do_not(
    stub: Stub, owner: Owner, other_owner: Owner, notified: list[str]
) -> None:
    watcher = await Watcher.open(stub, owner.md)
    try:
        await new_session(stub, owner)
        await new_session(stub, other_owner)
        await watcher.next()
        await asyncio.sleep(QUIET)
    finally:
        await watcher.close()

    assert notified.count(owner.name) == 1
    assert other_owner.name not in notified


async def test_a_watch_opening_while_an_event_commits_delivers_that_event(
    stub: Stub, owner: Owner, admin: asyncpg.Connection
) -> None:
    session = await new_session(stub, owner)
    before = await admin.fetchval("SELECT max(id) FROM events WHERE owner = $1", owner.name)

    async with admin.transaction():
        # Recorded while the owner is not marked: no NOTIFY is queued, and the
        # owner's event lock is held until this commits.
        recorded = await admin.fetchval(
            "SELECT record_event($1, $2, 4::smallint)", owner.name, uuid.UUID(session.id)
        )
        opening = asyncio.create_task(Watcher.open(stub, owner.md, after_event_id=before))
        await eventually(lambda: waits_on_a_lock(admin))
    watcher = await opening

    try:
        assert (await watcher.next()).event_id == recorded
    finally:
        await watcher.close()


async def test_a_watch_that_outlasts_its_mark_has_it_renewed_and_keeps_being_notified(
    stub: Stub,
    server: App,
    database_url: str,
    settings: Settings,
    owner: Owner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "MARK_SECONDS", 0.6)
    store = Store(server.engine)
    hub = EventHub(database_url, store, settings.database_connect_timeout)
    await hub.start()
    session = await new_session(stub, owner)
    try:
        async with WatchOperations(store, hub).open(
            Principal(owner.name, Actor.USER), after_event_id=0
        ) as watched:
            # Reads, finds nothing, waits.
            waiting = asyncio.ensure_future(anext(watched))
            await asyncio.sleep(3 * 0.6)  # the first mark has long lapsed
            star = pb.ManageRequest(session_id=session.id, star=pb.Star())
            await stub.Manage(star, metadata=owner.md)
            async with asyncio.timeout(5):
                event = await waiting
    finally:
        await hub.close()

    assert str(event.session_id) == session.id
