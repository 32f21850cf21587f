"""The writes that open and close a Send, one round trip each.

Opening takes the owner's admission lock, leases the session, stores the user
message and the reply IN_PROGRESS, remembers the request_id, records the event
and reads the context the model is sent; closing stores the reply's text and
status, gives the lease back and records the event. Both are stored functions
(`sql/open_send.sql`, `sql/close_send.sql`) run by `Store.call`: a Send's time to
first token waits on the first, and every Send pays for both.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import asyncpg

from sessions_server.models import Message, MessageStatus, Role, Turn, Usage
from sessions_server.store.leases import Claim, refused
from sessions_server.store.replies import in_progress_reply
from sessions_server.store.scope import Store

_OPEN = "SELECT * FROM open_send($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
_CLOSE = "SELECT * FROM close_send($1, $2, $3, $4, $5, $6, $7, $8, $9)"


@dataclass(frozen=True)
class Opened:
    claim: Claim
    user_message: Message
    reply: Message
    """The reply, stored IN_PROGRESS with no text yet."""
    turns: list[Turn]
    """The context for the model, oldest first, ending with the user message."""


class NotOpened(StrEnum):
    """Why nothing was written."""

    KNOWN = "known"
    """The request_id is stored already: a repeat, to be replayed or resumed."""
    UNUSABLE = "unusable"
    """The session's endpoint is not one the caller may use (any longer)."""
    TAKEN = "taken"
    """A Create took the request_id meanwhile."""


_NOT_OPENED = frozenset(NotOpened)


@dataclass(frozen=True)
class Limits:
    lease_seconds: float
    max_concurrent_sends: int
    context_max_messages: int
    context_max_bytes: int


async def open_send(
    store: Store,
    owner: str,
    session_id: uuid.UUID,
    token: uuid.UUID,
    content: str,
    request_id: str,
    method: str,
    fingerprint: str,
    endpoints: list[str],
    limits: Limits,
) -> Opened | NotOpened:
    """Leases the session (when free, its endpoint is one of `endpoints`, and the
    owner has fewer than the cap of Sends in flight), stores the user message and
    reads the context. A refused lease raises why (`leases.refused`)."""
    try:
        (row,) = await store.call(
            _OPEN,
            owner,
            session_id,
            token,
            timedelta(seconds=limits.lease_seconds),
            limits.max_concurrent_sends,
            content,
            request_id,
            method,
            fingerprint,
            limits.context_max_messages,
            limits.context_max_bytes,
            endpoints,
        )
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name != "request_ids_pkey":
            raise
        return NotOpened.TAKEN
    if row["outcome"] in _NOT_OPENED:
        return NotOpened(row["outcome"])
    if row["outcome"] != "opened":
        raise refused(row["outcome"])
    user = Message(
        row["user_seq"], Role.USER, content, MessageStatus.COMPLETE, row["user_create_time"]
    )
    reply = in_progress_reply(row["reply_seq"], row["reply_create_time"])
    claim = Claim(
        row["session_name"],
        row["session_model"],
        row["session_endpoint"],
        row["session_system_prompt"],
        row["reply_seq"],
    )
    turns = [
        Turn(Role(role), text)
        for role, text in zip(row["context_roles"], row["context_contents"], strict=True)
    ]
    return Opened(claim, user, reply, turns)


class Closed(StrEnum):
    """Why closing stored no reply."""

    REMOVED = "removed"
    """As asked: the reply had no text, and its caller was told why."""
    LOST = "lost"
    """The lease is no longer the Send's: nothing was written."""


async def close_send(
    store: Store,
    owner: str,
    session_id: uuid.UUID,
    token: uuid.UUID,
    seq: int,
    content: str,
    status: MessageStatus | None,
    usage: Usage | None,
    request_id: str,
) -> Message | Closed:
    """Stores reply `seq` with its whole text (or removes it, for status None) and
    gives the lease back."""
    rows = await store.call(
        _CLOSE,
        owner,
        session_id,
        token,
        seq,
        content,
        None if status is None else int(status),
        usage.prompt_tokens if usage else None,
        usage.completion_tokens if usage else None,
        request_id,
    )
    if not rows:
        return Closed.LOST
    if status is None:
        return Closed.REMOVED
    ((create_time,),) = rows
    return Message(seq, Role.ASSISTANT, content, status, create_time, usage)
