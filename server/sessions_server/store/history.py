"""The context a model is sent with a Send: the session's newest messages."""

import uuid

import sqlalchemy as sa

from sessions_server.models import Role, Turn
from sessions_server.store.scope import Scope
from sessions_server.store.tables import messages

# The choice itself is `send_context` of migration 0008, which `open_send` uses too.
_CONTEXT = sa.text(
    "SELECT role, content FROM send_context(:owner, :session_id, :through, :max_messages, "
    ":max_bytes)"
).bindparams(sa.bindparam("session_id", type_=messages.c.session_id.type))


async def context(
    scope: Scope, session_id: uuid.UUID, through_seq: int, max_messages: int, max_bytes: int
) -> list[Turn]:
    """The newest messages up to `through_seq`, oldest first: at most `max_messages`
    and `max_bytes` of content, except that message `through_seq` always goes."""
    rows = await scope.connection.execute(
        _CONTEXT,
        {
            "owner": scope.owner,
            "session_id": session_id,
            "through": through_seq,
            "max_messages": max_messages,
            "max_bytes": max_bytes,
        },
    )
    return [Turn(Role(role), content) for role, content in rows]
