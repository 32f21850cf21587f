"""The events outbox: every change to a session is recorded in its own transaction.

`record` inserts the event and queues a NOTIFY on `CHANNEL`; PostgreSQL delivers
the notification only when the transaction commits, so listeners never hear of a
change that was rolled back.
"""

import json
import uuid

import sqlalchemy as sa

from sessions_server.models import EventType
from sessions_server.store.scope import Scope
from sessions_server.store.tables import events

CHANNEL = "sessions_events"


async def record(scope: Scope, session_id: uuid.UUID, type: EventType) -> int:
    """Records the event; returns its id."""
    event_id: int = (
        await scope.connection.execute(
            sa.insert(events)
            .values(owner=scope.owner, session_id=session_id, type=int(type), time=sa.func.now())
            .returning(events.c.id)
        )
    ).scalar_one()
    payload = json.dumps(
        {"owner": scope.owner, "session_id": str(session_id), "type": int(type), "id": event_id}
    )
    await scope.connection.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))
    return event_id
