"""The events outbox: every change to a session is recorded in its own transaction.

The stored function of each write records its event with `record_event`
(migration 0010), which inserts it and, when some replica watches the owner
(`mark_watched`), queues a NOTIFY on `CHANNEL`; PostgreSQL delivers the
notification only when the transaction commits, so listeners never hear of a
change that was rolled back.

Watchers resume "after event id N", which is only sound if an owner's events
become visible in id order: were id 11 committed before id 10, a watcher that
had read 11 would never see 10. `record_event` therefore takes a per-owner lock
(held until commit) before the id is drawn, so one owner's events commit in id
order. Different owners do not wait for each other.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions_server.models import EventType
from sessions_server.store.scope import Scope
from sessions_server.store.tables import events, events_pruned, watched_owners

CHANNEL = "sessions_events"
"""The channel `record_event` (migration 0010) notifies on."""

_EVENT_LOCK = 24149
"""The advisory lock space of `record_event`'s per-owner lock."""


@dataclass(frozen=True)
class EventRow:
    id: int
    type: EventType
    time: datetime
    session_id: uuid.UUID


@dataclass(frozen=True)
class Bounds:
    """An owner's retained range: events after `pruned_through`, up to `newest`."""

    pruned_through: int
    newest: int


async def mark_watched(scope: Scope, seconds: float) -> None:
    """Has the owner's events NOTIFYed for `seconds` more (a mark that lasts longer,
    made by another replica, is kept).

    Taken under the owner's event lock, as `record` checks the mark: an event
    recorded without a NOTIFY because this mark was not yet committed is committed
    before it, so whoever reads the outbox after this commits finds that event.
    """
    await scope.connection.execute(
        sa.select(sa.func.pg_advisory_xact_lock(_EVENT_LOCK, sa.func.hashtext(scope.owner)))
    )
    mark = insert(watched_owners).values(
        owner=scope.owner, expires=sa.func.clock_timestamp() + timedelta(seconds=seconds)
    )
    await scope.connection.execute(
        mark.on_conflict_do_update(
            index_elements=[watched_owners.c.owner],
            set_={"expires": sa.func.greatest(watched_owners.c.expires, mark.excluded.expires)},
        )
    )


async def after(scope: Scope, position: int, limit: int) -> list[EventRow]:
    """The owner's events after `position`, oldest first, at most `limit`."""
    rows = await scope.connection.execute(
        sa.select(events.c.id, events.c.type, events.c.time, events.c.session_id)
        .where(events.c.owner == scope.owner, events.c.id > position)
        .order_by(events.c.id)
        .limit(limit)
    )
    return [EventRow(row.id, EventType(row.type), row.time, row.session_id) for row in rows]


def _pruned_through(scope: Scope) -> sa.ScalarSelect[int]:
    return (
        sa.select(events_pruned.c.through_id)
        .where(events_pruned.c.owner == scope.owner)
        .scalar_subquery()
    )


async def pruned_through(scope: Scope) -> int:
    """The newest of the owner's event ids removed by the retention prune (0 = none)."""
    through: int = (
        await scope.connection.execute(sa.select(sa.func.coalesce(_pruned_through(scope), 0)))
    ).scalar_one()
    return through


async def bounds(scope: Scope) -> Bounds:
    """The owner's retained range (0, 0 for an owner without events)."""
    newest = sa.select(sa.func.max(events.c.id)).where(events.c.owner == scope.owner)
    row = (
        await scope.connection.execute(
            sa.select(
                sa.func.coalesce(_pruned_through(scope), 0).label("pruned"),
                sa.func.coalesce(newest.scalar_subquery(), 0).label("newest"),
            )
        )
    ).one()
    return Bounds(row.pruned, max(row.pruned, row.newest))


async def prune(connection: AsyncConnection, retention: timedelta) -> None:
    """Deletes events older than `retention`, of every owner.

    The one statement that spans owners: maintenance, not a request. Each owner's
    newest deleted id is kept in `events_pruned` by the same statement, so a
    watcher behind it learns that it missed events instead of skipping them.
    """
    gone = (
        sa.delete(events)
        .where(events.c.time < sa.func.now() - retention)
        .returning(events.c.owner, events.c.id)
        .cte("gone")
    )
    newest = sa.select(gone.c.owner, sa.func.max(gone.c.id)).group_by(gone.c.owner)
    upsert = insert(events_pruned).from_select(["owner", "through_id"], newest)
    await connection.execute(
        upsert.on_conflict_do_update(
            index_elements=[events_pruned.c.owner],
            set_={
                "through_id": sa.func.greatest(
                    events_pruned.c.through_id, upsert.excluded.through_id
                )
            },
        )
    )
