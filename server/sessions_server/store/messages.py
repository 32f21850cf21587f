"""Queries of the `messages` table."""

import uuid
from typing import Any

import sqlalchemy as sa

from sessions_server.models import Message, MessageStatus, Role, Usage
from sessions_server.store.scope import Scope
from sessions_server.store.tables import messages, sessions

_IN_PROGRESS = messages.c.status == int(MessageStatus.IN_PROGRESS)
_CONTENT = sa.func.message_text(
    messages.c.owner, messages.c.session_id, messages.c.seq, messages.c.content, messages.c.status
)
"""A message's text; of a reply in progress, the text flushed so far."""


def message_columns() -> list[sa.ColumnElement[Any]]:
    """The columns a `Message` is made of."""
    return [
        messages.c.seq,
        messages.c.role,
        _CONTENT.label("content"),
        messages.c.status,
        messages.c.create_time,
        messages.c.prompt_tokens,
        messages.c.completion_tokens,
    ]


def usage_of(prompt_tokens: int | None, completion_tokens: int | None) -> Usage | None:
    """The stored token counts as a Usage; None when the endpoint reported none."""
    if prompt_tokens is None and completion_tokens is None:
        return None
    return Usage(prompt_tokens or 0, completion_tokens or 0)


def to_message(row: sa.Row[Any]) -> Message:
    return Message(
        seq=row.seq,
        role=Role(row.role),
        content=row.content,
        status=MessageStatus(row.status),
        create_time=row.create_time,
        usage=usage_of(row.prompt_tokens, row.completion_tokens),
    )


def _of(scope: Scope, session_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(messages.c.owner == scope.owner, messages.c.session_id == session_id)


async def newest(
    scope: Scope, session_id: uuid.UUID, limit: int, before_seq: int | None = None
) -> tuple[list[Message], bool]:
    """The newest `limit` messages (below `before_seq`), oldest first, and whether
    older ones exist."""
    where = [_of(scope, session_id)]
    if before_seq is not None:
        where.append(messages.c.seq < before_seq)
    rows = (
        await scope.connection.execute(
            sa.select(*message_columns())
            .where(*where)
            .order_by(messages.c.seq.desc())
            .limit(limit + 1)
        )
    ).all()
    found = [to_message(row) for row in rows[:limit]]
    found.reverse()
    return found, len(rows) > limit


async def keep_newest(scope: Scope, session_id: uuid.UUID, keep: int) -> int:
    """Deletes all but the newest `keep` messages; returns how many went."""
    kept = (
        sa.select(messages.c.seq)
        .where(_of(scope, session_id))
        .order_by(messages.c.seq.desc())
        .limit(keep)
    )
    result = await scope.connection.execute(
        sa.delete(messages).where(
            _of(scope, session_id), messages.c.seq.not_in(kept.scalar_subquery())
        )
    )
    return result.rowcount


async def copy_oldest(scope: Scope, source: uuid.UUID, target: uuid.UUID, limit: int | None) -> int:
    """Copies the oldest `limit` (or all) messages of `source` into `target`, numbered
    from 1, in one INSERT … SELECT; sets the target's counters; returns the count."""
    # A reply still in progress is copied as it is now, ended INCOMPLETE: the fork
    # has no Send to finish it.
    picked = (
        sa.select(
            messages.c.owner,
            messages.c.seq,
            messages.c.role,
            _CONTENT.label("content"),
            sa.case((_IN_PROGRESS, int(MessageStatus.INCOMPLETE)), else_=messages.c.status).label(
                "status"
            ),
            messages.c.prompt_tokens,
            messages.c.completion_tokens,
            messages.c.create_time,
        )
        .where(_of(scope, source))
        .order_by(messages.c.seq)
        .limit(limit)
        .subquery()
    )
    copied = sa.select(
        picked.c.owner,
        sa.literal(target, messages.c.session_id.type),
        sa.func.row_number().over(order_by=picked.c.seq),
        picked.c.role,
        picked.c.content,
        picked.c.status,
        picked.c.prompt_tokens,
        picked.c.completion_tokens,
        picked.c.create_time,
    )
    columns = [
        "owner",
        "session_id",
        "seq",
        "role",
        "content",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "create_time",
    ]
    result = await scope.connection.execute(sa.insert(messages).from_select(columns, copied))
    count = result.rowcount
    await scope.connection.execute(
        sa.update(sessions)
        .where(sessions.c.owner == scope.owner, sessions.c.id == target)
        .values(message_count=count, next_seq=count + 1)
    )
    return count
