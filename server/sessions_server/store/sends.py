"""The writes that open and close a Send, each one statement (one round trip).

Opening leases the session, reserves the next seq, stores the user message and
remembers the request_id; closing stores the reply, gives the lease back and
points the request_id at the reply. Both are built once, with bind parameters
(prefixed so that none is taken for a column to set): a Send's time to first token
waits on them.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as upsert

from sessions_server.models import Message, MessageStatus, Role, Usage
from sessions_server.store.leases import FREE, Claim, within_cap
from sessions_server.store.scope import Scope
from sessions_server.store.tables import messages, request_ids, sessions

_NOW = sa.func.clock_timestamp()
_OWNER = sa.bindparam("p_owner", type_=sa.Text)
_SESSION = sa.bindparam("p_session_id", type_=sessions.c.id.type)
_TOKEN = sa.bindparam("p_token", type_=sessions.c.lease_token.type)
_REQUEST_ID = sa.bindparam("p_request_id", type_=sa.Text)
_MESSAGE_COLUMNS = ["owner", "session_id", "seq", "role", "content", "status"]


def _mine() -> sa.ColumnElement[bool]:
    return sa.and_(sessions.c.owner == _OWNER, sessions.c.id == _SESSION)


def _open_statement() -> sa.Select[Any]:
    claimed = (
        sa.update(sessions)
        .where(_mine(), FREE, within_cap(_OWNER, sa.bindparam("p_cap", type_=sa.Integer)))
        .values(
            lease_token=_TOKEN,
            lease_expires=_NOW + sa.bindparam("p_lease", type_=sa.Interval),
            lease_request_id=sa.func.nullif(_REQUEST_ID, ""),
            next_seq=sessions.c.next_seq + 1,
            message_count=sessions.c.message_count + 1,
            last_active_time=sa.func.now(),
        )
        .returning(
            sessions.c.name,
            sessions.c.model,
            sessions.c.endpoint,
            sessions.c.system_prompt,
            (sessions.c.next_seq - 1).label("seq"),
        )
        .cte("claimed")
    )
    stored = (
        sa.insert(messages)
        .from_select(
            [*_MESSAGE_COLUMNS, "create_time"],
            sa.select(
                _OWNER,
                _SESSION,
                claimed.c.seq,
                sa.literal(int(Role.USER)),
                sa.bindparam("p_content", type_=sa.Text),
                sa.literal(int(MessageStatus.COMPLETE)),
                sa.func.now(),
            ),
        )
        .returning(messages.c.create_time)
        .cte("stored")
    )
    remembered = (
        upsert(request_ids)
        .from_select(
            [
                "owner",
                "request_id",
                "method",
                "fingerprint",
                "session_id",
                "user_seq",
                "create_time",
            ],
            sa.select(
                _OWNER,
                _REQUEST_ID,
                sa.bindparam("p_method", type_=sa.Text),
                sa.bindparam("p_fingerprint", type_=sa.Text),
                _SESSION,
                claimed.c.seq,
                sa.func.now(),
            ).where(_REQUEST_ID != ""),
        )
        .on_conflict_do_nothing()
        .returning(request_ids.c.request_id)
        .cte("remembered")
    )
    return sa.select(
        claimed.c.name,
        claimed.c.model,
        claimed.c.endpoint,
        claimed.c.system_prompt,
        claimed.c.seq,
        stored.c.create_time,
        sa.select(sa.func.count()).select_from(remembered).scalar_subquery(),
    ).select_from(claimed.join(stored, sa.true()))


@dataclass(frozen=True)
class Opened:
    claim: Claim
    user_message: Message
    remembered: bool
    """Whether the request_id (if any) was recorded; False when another call has it."""


async def open_send(
    scope: Scope,
    session_id: uuid.UUID,
    token: uuid.UUID,
    lease_seconds: float,
    cap: int,
    content: str,
    request_id: str,
    method: str,
    fingerprint: str,
) -> Opened | None:
    """Leases the session (when free and the owner has fewer than `cap` Sends in
    flight) and stores the user message; None when refused."""
    row = (
        await scope.connection.execute(
            _OPEN,
            {
                "p_owner": scope.owner,
                "p_session_id": session_id,
                "p_token": token,
                "p_lease": timedelta(seconds=lease_seconds),
                "p_cap": cap,
                "p_content": content,
                "p_request_id": request_id,
                "p_method": method,
                "p_fingerprint": fingerprint,
            },
        )
    ).one_or_none()
    if row is None:
        return None
    name, model, endpoint, system_prompt, seq, create_time, remembered = row
    user = Message(seq, Role.USER, content, MessageStatus.COMPLETE, create_time)
    claim = Claim(name, model, endpoint, system_prompt)
    return Opened(claim, user, remembered == 1 or not request_id)


def _close_statement() -> sa.Select[Any]:
    released = (
        sa.update(sessions)
        .where(_mine(), sessions.c.lease_token == _TOKEN)
        .values(
            lease_token=None,
            lease_expires=None,
            lease_request_id=None,
            next_seq=sessions.c.next_seq + 1,
            message_count=sessions.c.message_count + 1,
            last_active_time=sa.func.now(),
        )
        .returning((sessions.c.next_seq - 1).label("seq"))
        .cte("released")
    )
    stored = (
        sa.insert(messages)
        .from_select(
            [*_MESSAGE_COLUMNS, "prompt_tokens", "completion_tokens", "create_time"],
            sa.select(
                _OWNER,
                _SESSION,
                released.c.seq,
                sa.literal(int(Role.ASSISTANT)),
                sa.bindparam("p_content", type_=sa.Text),
                sa.bindparam("p_status", type_=sa.SmallInteger),
                sa.bindparam("p_prompt_tokens", type_=sa.BigInteger),
                sa.bindparam("p_completion_tokens", type_=sa.BigInteger),
                sa.func.now(),
            ),
        )
        .returning(messages.c.seq, messages.c.create_time)
        .cte("stored")
    )
    answered = (
        sa.update(request_ids)
        .where(request_ids.c.owner == _OWNER, request_ids.c.request_id == _REQUEST_ID)
        .where(sa.exists(sa.select(released.c.seq)))
        .values(reply_seq=sa.select(released.c.seq).scalar_subquery())
        .returning(request_ids.c.request_id)
        .cte("answered")
    )
    return sa.select(stored.c.seq, stored.c.create_time).add_cte(answered)


async def close_send(
    scope: Scope,
    session_id: uuid.UUID,
    token: uuid.UUID,
    content: str,
    status: MessageStatus,
    usage: Usage | None,
    request_id: str,
) -> Message | None:
    """Stores the reply and gives the lease back; None (and nothing stored) when the
    lease is no longer this Send's."""
    row = (
        await scope.connection.execute(
            _CLOSE,
            {
                "p_owner": scope.owner,
                "p_session_id": session_id,
                "p_token": token,
                "p_content": content,
                "p_status": int(status),
                "p_prompt_tokens": usage.prompt_tokens if usage else None,
                "p_completion_tokens": usage.completion_tokens if usage else None,
                "p_request_id": request_id,
            },
        )
    ).one_or_none()
    if row is None:
        return None
    seq, create_time = row
    return Message(seq, Role.ASSISTANT, content, status, create_time, usage)


_OPEN = _open_statement()
_CLOSE = _close_statement()
