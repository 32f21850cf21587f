"""Watch: the caller's events, first replayed from the outbox and then live.

A watcher is nothing but a position in its owner's outbox. It subscribes to the
hub (which marks its owner as watched, so that its events NOTIFY) BEFORE it first
reads, then loops: read the events after its position, deliver
them, wait for a wake-up. A notification that arrives while it reads only makes
the next wait return at once, so the switch from replay to live has no gap, and
since every read starts after the last event delivered it has no duplicate either
(one owner's events commit in id order: see `store/events.py`).

The payload is read at delivery: the session as it is then, not as it was when the
event happened. A session that is gone (DELETED, or any earlier event of a session
deleted since) is delivered as its id alone.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from sessions_server.auth import Principal
from sessions_server.errors import (
    DatabaseUnavailable,
    EventsExpired,
    EventsUnavailable,
    InvalidArgument,
)
from sessions_server.events import EventHub, Subscription
from sessions_server.models import Event
from sessions_server.store import Store
from sessions_server.store import events as event_rows
from sessions_server.store import sessions as session_rows

log = logging.getLogger(__name__)

BATCH = 100
# A database that stays unreachable this long ends the watcher (it reconnects later).
OUTAGE_LIMIT = 30.0
RETRY_FIRST = 0.2
RETRY_MAX = 2.0


class WatchOperations:
    def __init__(self, store: Store, hub: EventHub) -> None:
        self._store = store
        self._hub = hub

    @contextlib.asynccontextmanager
    async def open(
        self, principal: Principal, after_event_id: int
    ) -> AsyncIterator[AsyncIterator[Event]]:
        """The owner's events after `after_event_id` (0 = from now on), until ended.

        Once this has entered, every event committed from then on will be delivered:
        the caller may tell its client that the watch is established.
        """
        if after_event_id < 0:
            raise InvalidArgument.field("after_event_id", "must not be negative")
        async with self._hub.subscribe(principal.owner) as subscription:
            subscription.position = await self._start(principal.owner, after_event_id)
            yield self._events(subscription)

    async def _events(self, subscription: Subscription) -> AsyncIterator[Event]:
        while True:
            batch = await self._read(subscription)
            for event in batch:
                yield event
                subscription.position = event.id
            if len(batch) < BATCH:
                await subscription.wait()

    async def _start(self, owner: str, after_event_id: int) -> int:
        """The position to start after, checked against the retained range."""
        async with self._store.scope(owner) as scope:
            bounds = await event_rows.bounds(scope)
        if not after_event_id:
            return bounds.newest
        if after_event_id < bounds.pruned_through:
            raise EventsExpired()
        if after_event_id > bounds.newest:
            raise InvalidArgument.field("after_event_id", "is not an event of this caller")
        return after_event_id

    async def _read(self, subscription: Subscription) -> list[Event]:
        """The next batch after the subscription's position, riding out short outages."""
        deadline = time.monotonic() + OUTAGE_LIMIT
        delay = RETRY_FIRST
        while True:
            try:
                return await self._batch(subscription.owner, subscription.position)
            except DatabaseUnavailable as error:
                if time.monotonic() > deadline:
                    raise EventsUnavailable() from error
                log.warning("watcher cannot read events (%s); retry in %.1f s", error, delay)
            # Returns early if the listener reconnects (the database is back) or
            # raises if the watcher is ended meanwhile.
            await subscription.wait(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _batch(self, owner: str, position: int) -> list[Event]:
        async with self._store.scope(owner) as scope:
            rows = await event_rows.after(scope, position, BATCH)
            # Read after the rows: a prune committed before them is seen here.
            if position < await event_rows.pruned_through(scope):
                raise EventsExpired()
            sessions = await session_rows.get_many(scope, {row.session_id for row in rows})
        return [
            Event(row.id, row.type, row.time, row.session_id, sessions.get(row.session_id))
            for row in rows
        ]


class Pruner:
    """Deletes events older than `retention` seconds, every `interval` seconds, over
    its own engine (the maintenance role: the prune spans owners)."""

    def __init__(self, engine: AsyncEngine, retention: float, interval: float) -> None:
        self._engine = engine
        self._retention = timedelta(seconds=retention)
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="events-pruner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._engine.dispose()

    async def _run(self) -> None:
        while True:
            try:
                async with self._engine.begin() as connection:
                    await event_rows.prune(connection, self._retention)
            except (DBAPIError, OSError) as error:
                log.warning("events prune failed (%s); next try in %.0f s", error, self._interval)
            await asyncio.sleep(self._interval)
