"""Queries of the `messages` table."""

import uuid
from typing import Any

import sqlalchemy as sa

from sessions_server.models import Message, MessageStatus, Role, Usage
from sessions_server.store.scope import Scope
from sessions_server.store.tables import messages

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
