"""Replies as they are stored while they stream: pieces appended under the lease,
read back from any replica, settled when their process died, cancelled.

A reply IN_PROGRESS keeps its text in `reply_chunks`, one row per flush, so that
appending costs the same at the 10,000th token as at the first; its message row
gets the whole text once, when it ends (`sends.close_send`). The stored functions
are in `sql/`: `append_reply`, `settle_reply`, `listen_reply`, `cancel_reply`.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from sessions_server.models import Message, MessageStatus, Role
from sessions_server.store.leases import Hold
from sessions_server.store.messages import message_columns, to_message
from sessions_server.store.scope import Scope, Store
from sessions_server.store.tables import messages, reply_chunks

REPLY_CHANNEL = "sessions_replies"
"""The channel `notify_reply` and `cancel_reply` notify on: `{owner, session_id,
seq, kind}`, kind `text`, `end` or `cancel`."""

REPLY_LOCK_SPACE = 24150
"""The advisory lock space of `reply_lock` (one lock per reply)."""

_APPEND = "SELECT append_reply($1, $2, $3, $4, $5, $6)"


async def append(
    store: Store,
    owner: str,
    session_id: uuid.UUID,
    token: uuid.UUID,
    seq: int,
    start: int,
    text: str,
) -> Hold:
    """Stores the piece of reply `seq` that starts at code point `start` (nothing
    when the lease is lost)."""
    ((outcome,),) = await store.call(_APPEND, owner, session_id, token, seq, start, text)
    return Hold(outcome)


@dataclass(frozen=True)
class Stored:
    """A reply as it is stored now, with the message that asked for it."""

    prompt: Message
    reply: Message
    """While IN_PROGRESS, its content is the text flushed so far."""


async def begin(scope: Scope, session_id: uuid.UUID, seq: int, request_id: str) -> Message:
    """Stores reply `seq`, reserved with the lease, IN_PROGRESS with no text, and
    points the request_id at it (`open_send` does the same for a new Send)."""
    created = (
        await scope.connection.execute(
            sa.select(sa.func.begin_reply(scope.owner, _uuid(session_id), seq, request_id))
        )
    ).scalar_one()
    return in_progress_reply(seq, created)


async def settle(scope: Scope, session_id: uuid.UUID) -> None:
    """Ends the session's reply whose process died (its lease lapsed) INCOMPLETE."""
    await scope.connection.execute(sa.select(sa.func.settle_reply(scope.owner, _uuid(session_id))))


def _uuid(session_id: uuid.UUID) -> sa.BindParameter[uuid.UUID]:
    return sa.literal(session_id, messages.c.session_id.type)


def _of(scope: Scope, session_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(messages.c.owner == scope.owner, messages.c.session_id == session_id)


async def find(scope: Scope, session_id: uuid.UUID, seq: int) -> Stored | None:
    """Reply `seq` (0 = the session's newest reply) and the message before it, the
    text of a reply in progress as flushed so far; None when there is no such reply."""
    where = [_of(scope, session_id), messages.c.role == int(Role.ASSISTANT)]
    if seq:
        where.append(messages.c.seq == seq)
    row = (
        await scope.connection.execute(
            sa.select(*message_columns()).where(*where).order_by(messages.c.seq.desc()).limit(1)
        )
    ).one_or_none()
    if row is None:
        return None
    reply = to_message(row)
    prompt_row = (
        await scope.connection.execute(
            sa.select(*message_columns())
            .where(_of(scope, session_id), messages.c.seq < reply.seq)
            .order_by(messages.c.seq.desc())
            .limit(1)
        )
    ).one()
    return Stored(to_message(prompt_row), reply)


@dataclass(frozen=True)
class Progress:
    """Where a reply stands: ended (`reply` whole) or in progress (`reply` without
    its text, and the stored pieces asked for)."""

    reply: Message
    pieces: list[tuple[int, str]]
    """(start offset, text) of the pieces that end past the offset asked, in order."""


async def progress(
    scope: Scope, session_id: uuid.UUID, seq: int, offset: int | None
) -> Progress | None:
    """Reply `seq` as it stands, with its pieces past code point `offset` while in
    progress (none for None): no more than what is new is read. None when the
    reply is gone."""
    row = (
        await scope.connection.execute(
            sa.select(messages).where(_of(scope, session_id), messages.c.seq == seq)
        )
    ).one_or_none()
    if row is None:
        return None
    reply = to_message(row)
    if not in_progress(reply) or offset is None:
        return Progress(reply, [])
    return Progress(reply, await _pieces_after(scope, session_id, seq, offset))


async def _pieces_after(
    scope: Scope, session_id: uuid.UUID, seq: int, offset: int
) -> list[tuple[int, str]]:
    piece = sa.and_(
        reply_chunks.c.owner == scope.owner,
        reply_chunks.c.session_id == session_id,
        reply_chunks.c.seq == seq,
    )
    # From the piece holding `offset` on: a range of the primary key, so a wake of
    # an attacher reads only what is new, however long the reply has grown.
    holding = (
        sa.select(sa.func.max(reply_chunks.c.start_offset))
        .where(piece, reply_chunks.c.start_offset <= offset)
        .scalar_subquery()
    )
    rows = await scope.connection.execute(
        sa.select(reply_chunks.c.start_offset, reply_chunks.c.content)
        .where(piece, reply_chunks.c.start_offset >= sa.func.coalesce(holding, 0))
        .order_by(reply_chunks.c.start_offset)
    )
    return [(start, text) for start, text in rows if start + len(text) > offset]


async def listen(scope: Scope, session_id: uuid.UUID, seq: int, seconds: float) -> None:
    """Has reply `seq` NOTIFY as it grows and ends, for `seconds` more. Commit it
    before reading the reply (`reply_lock.sql` says why)."""
    await scope.connection.execute(
        sa.select(
            sa.func.listen_reply(
                scope.owner,
                _uuid(session_id),
                seq,
                timedelta(seconds=seconds),
            )
        )
    )


async def cancel(scope: Scope, session_id: uuid.UUID, seq: int) -> bool:
    """Asks the holder generating reply `seq` to stop it; False when none does."""
    asked: bool = (
        await scope.connection.execute(
            sa.select(sa.func.cancel_reply(scope.owner, _uuid(session_id), seq))
        )
    ).scalar_one()
    return asked


def in_progress(message: Message) -> bool:
    return message.status is MessageStatus.IN_PROGRESS


def in_progress_reply(seq: int, create_time: datetime) -> Message:
    """A reply just begun: stored IN_PROGRESS, no text yet."""
    return Message(seq, Role.ASSISTANT, "", MessageStatus.IN_PROGRESS, create_time)
