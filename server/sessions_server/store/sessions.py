"""Queries of the `sessions` table."""

import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa

from sessions_server.errors import (
    RequestIdReused,
    RequestInProgress,
    ServiceError,
    SessionNotFound,
)
from sessions_server.models import (
    Cursor,
    ListQuery,
    Message,
    MessageStatus,
    NewSession,
    Page,
    Role,
    Session,
)
from sessions_server.store.messages import usage_of
from sessions_server.store.scope import Scope, Store
from sessions_server.store.tables import sessions

_COLUMNS = [
    sessions.c.owner,
    sessions.c.id,
    sessions.c.name,
    sessions.c.model,
    sessions.c.endpoint,
    sessions.c.system_prompt,
    sessions.c.labels,
    sessions.c.message_count,
    sessions.c.archived,
    sessions.c.starred,
    sessions.c.forked_from,
    sessions.c.create_time,
    sessions.c.update_time,
    sessions.c.last_active_time,
]


_FIELDS = [column.name for column in _COLUMNS]


def _record(row: sa.Row[Any] | Any) -> Session:
    """The session of a row that has `_COLUMNS` (and maybe more)."""
    values = row._mapping
    return Session(**{name: values[name] for name in _FIELDS})


_GET = "SELECT * FROM get_session($1, $2, $3, $4)"
_CREATE = "SELECT * FROM create_session($1, $2, $3, $4, $5, $6, $7, $8, $9)"
_LIST = "SELECT * FROM list_sessions($1, $2, $3, $4, $5, $6, $7)"
_ROW_FIELDS = [name for name in _FIELDS if name != "owner"]

_CREATE_REFUSALS: dict[str, type[ServiceError]] = {
    "in_progress": RequestInProgress,
    "reused": RequestIdReused,
    "gone": SessionNotFound,
}


_MANAGE = "SELECT * FROM manage_session($1, $2, $3, $4, $5, $6, $7, $8)"


@dataclass(frozen=True)
class Managed:
    outcome: str
    """`DONE`, else why nothing was written (`sql/manage_session.sql`)."""
    session: Session | None
    removed: int = 0
    copied: int = 0


DONE = "done"


async def manage(
    store: Store,
    owner: str,
    session_id: uuid.UUID,
    action: str,
    *,
    name: str | None = None,
    keep: int | None = None,
    by_user: bool,
    current: uuid.UUID | None,
) -> Managed:
    """Applies one action to the session with its rules and event: one round trip
    (`sql/manage_session.sql`)."""
    (row,) = await store.call(
        _MANAGE, owner, session_id, action, name, keep, by_user, current, uuid.uuid4()
    )
    if row["outcome"] != DONE:
        return Managed(row["outcome"], None)
    return Managed(DONE, _session_of(owner, row), row["messages_removed"], row["messages_copied"])


def _session_of(owner: str, row: asyncpg.Record) -> Session:
    """The session of a stored function's row, which has every field but the owner."""
    return Session(owner=owner, **{name: row[name] for name in _ROW_FIELDS})


async def create(
    store: Store, owner: str, new: NewSession, request_id: str, fingerprint: str
) -> Session:
    """Stores a new session and its CREATED event, or, for a request_id stored
    before with the same `fingerprint`, finds the session it made: one round trip
    (`sql/create_session.sql`)."""
    arguments = (
        owner,
        uuid.uuid4(),
        new.name,
        new.model,
        new.endpoint,
        new.system_prompt,
        json.dumps(new.labels),
        request_id,
        fingerprint,
    )
    try:
        (row,) = await store.call(_CREATE, *arguments)
    except asyncpg.UniqueViolationError:
        # A Send took the request_id meanwhile; asked again, it is found taken.
        (row,) = await store.call(_CREATE, *arguments)
    if (refusal := _CREATE_REFUSALS.get(row["outcome"])) is not None:
        raise refusal()
    return _session_of(owner, row)


async def read(
    store: Store, owner: str, session_id: uuid.UUID, limit: int, before_seq: int
) -> tuple[Session, list[Message], bool]:
    """The session, its newest `limit` messages below `before_seq` (0 = from the
    end), oldest first, and whether older ones exist: one round trip
    (`sql/get_session.sql`)."""
    rows = await store.call(_GET, owner, session_id, limit, before_seq)
    if not rows:
        raise SessionNotFound()
    (row,) = rows
    session = _session_of(owner, row)
    found = [
        Message(seq, Role(role), content, MessageStatus(status), created, usage_of(p, c))
        for seq, role, content, status, created, p, c in zip(
            row["seqs"],
            row["roles"],
            row["contents"],
            row["statuses"],
            row["create_times"],
            row["prompt_tokens"],
            row["completion_tokens"],
            strict=True,
        )
    ]
    return session, found, row["has_more"]


def _mine(scope: Scope, session_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(sessions.c.owner == scope.owner, sessions.c.id == session_id)


async def get(scope: Scope, session_id: uuid.UUID) -> Session:
    row = (
        await scope.connection.execute(sa.select(*_COLUMNS).where(_mine(scope, session_id)))
    ).one_or_none()
    if row is None:
        raise SessionNotFound()
    return _record(row)


async def get_many(scope: Scope, session_ids: set[uuid.UUID]) -> dict[uuid.UUID, Session]:
    """Those of the sessions that exist, by id."""
    if not session_ids:
        return {}
    rows = await scope.connection.execute(
        sa.select(*_COLUMNS).where(sessions.c.owner == scope.owner, sessions.c.id.in_(session_ids))
    )
    return {row.id: _record(row) for row in rows}


async def page(store: Store, owner: str, query: ListQuery, after: Cursor | None, size: int) -> Page:
    """One page of `size` of the owner's sessions that match `query`, after the
    keyset position `after`, and how many match in all: one round trip
    (`sql/list_sessions.sql`)."""
    # One row more than the page tells whether another page follows.
    rows = await store.call(
        _LIST,
        owner,
        query.archived.value,
        query.starred_only,
        query.text,
        after.last_active_time if after else None,
        after.id if after else None,
        size + 1,
    )
    total = rows[0]["total"]
    found = [_session_of(owner, row) for row in rows[:size] if row["id"] is not None]
    next_cursor = None
    if len(rows) > size:
        last = found[-1]
        next_cursor = Cursor(last.last_active_time, last.id)
    return Page(found, next_cursor, total)
