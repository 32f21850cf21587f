"""A session's messages as Send reads and writes them: the context a model is
sent, and the messages a Send adds."""

import uuid

import sqlalchemy as sa

from sessions_server.models import Message, MessageStatus, Role, Turn, Usage
from sessions_server.store.scope import Scope
from sessions_server.store.tables import messages


async def append(
    scope: Scope,
    session_id: uuid.UUID,
    seq: int,
    role: Role,
    content: str,
    status: MessageStatus,
    usage: Usage | None = None,
) -> Message:
    """Stores a message at `seq`, which the caller reserved on the session."""
    create_time = (
        await scope.connection.execute(
            sa.insert(messages)
            .values(
                owner=scope.owner,
                session_id=session_id,
                seq=seq,
                role=int(role),
                content=content,
                status=int(status),
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
                create_time=sa.func.now(),
            )
            .returning(messages.c.create_time)
        )
    ).scalar_one()
    return Message(seq, role, content, status, create_time, usage)


async def context(
    scope: Scope, session_id: uuid.UUID, through_seq: int, max_messages: int, max_bytes: int
) -> list[Turn]:
    """The newest messages up to `through_seq`, oldest first: at most `max_messages`
    and `max_bytes` of content, except that message `through_seq` always goes.

    The running size is summed newest first as the index is walked backwards, so
    only the messages that fit are read.
    """
    newest_first = (
        sa.select(
            messages.c.seq,
            messages.c.role,
            messages.c.content,
            sa.func.sum(sa.func.octet_length(messages.c.content))
            .over(order_by=messages.c.seq.desc())
            .label("running"),
        )
        .where(
            messages.c.owner == scope.owner,
            messages.c.session_id == session_id,
            messages.c.seq <= through_seq,
        )
        .order_by(messages.c.seq.desc())
        .limit(max_messages)
        .subquery()
    )
    rows = await scope.connection.execute(
        sa.select(newest_first.c.role, newest_first.c.content)
        .where(sa.or_(newest_first.c.running <= max_bytes, newest_first.c.seq == through_seq))
        .order_by(newest_first.c.seq)
    )
    return [Turn(Role(role), content) for role, content in rows]
