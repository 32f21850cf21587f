"""The context a model is sent with a Send: the session's newest messages."""

import uuid
from typing import Any

import sqlalchemy as sa

from sessions_server.models import Role, Turn
from sessions_server.store.scope import Scope
from sessions_server.store.tables import messages


def _context_statement() -> sa.Select[Any]:
    # The running size is summed newest first as the primary key index is walked
    # backwards, so only the messages that fit are read. Built once: every Send
    # waits on it before its first token.
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
            messages.c.owner == sa.bindparam("p_owner", type_=sa.Text),
            messages.c.session_id == sa.bindparam("p_session_id", type_=messages.c.session_id.type),
            messages.c.seq <= sa.bindparam("p_through", type_=sa.BigInteger),
        )
        .order_by(messages.c.seq.desc())
        .limit(sa.bindparam("p_max_messages", type_=sa.Integer))
        .subquery()
    )
    return (
        sa.select(newest_first.c.role, newest_first.c.content)
        .where(
            sa.or_(
                newest_first.c.running <= sa.bindparam("p_max_bytes", type_=sa.BigInteger),
                newest_first.c.seq == sa.bindparam("p_through", type_=sa.BigInteger),
            )
        )
        .order_by(newest_first.c.seq)
    )


_CONTEXT = _context_statement()


async def context(
    scope: Scope, session_id: uuid.UUID, through_seq: int, max_messages: int, max_bytes: int
) -> list[Turn]:
    """The newest messages up to `through_seq`, oldest first: at most `max_messages`
    and `max_bytes` of content, except that message `through_seq` always goes."""
    rows = await scope.connection.execute(
        _CONTEXT,
        {
            "p_owner": scope.owner,
            "p_session_id": session_id,
            "p_through": through_seq,
            "p_max_messages": max_messages,
            "p_max_bytes": max_bytes,
        },
    )
    return [Turn(Role(role), content) for role, content in rows]
