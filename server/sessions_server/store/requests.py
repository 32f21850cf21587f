"""Idempotency keys (`request_id`), scoped to the owner."""

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from sessions_server.store.scope import Scope
from sessions_server.store.tables import request_ids


@dataclass(frozen=True)
class RequestRecord:
    method: str
    fingerprint: str
    session_id: uuid.UUID
    user_seq: int | None
    reply_seq: int | None


def in_progress_key(owner: str, request_id: str) -> str:
    """What `hold` locks for this owner's request_id (neither can hold a newline)."""
    return f"sessions.request:{owner}\n{request_id}"


_HOLD = sa.select(
    sa.func.pg_try_advisory_xact_lock(
        sa.func.hashtextextended(sa.bindparam("key", type_=sa.Text), 0)
    )
)


async def hold(scope: Scope, request_id: str) -> bool:
    """Marks the request_id as in progress until the transaction ends; False when
    another call holds it (the first call with this id is still running)."""
    held: bool = (
        await scope.connection.execute(_HOLD, {"key": in_progress_key(scope.owner, request_id)})
    ).scalar_one()
    return held


def _record(row: sa.Row[Any]) -> RequestRecord:
    return RequestRecord(row.method, row.fingerprint, row.session_id, row.user_seq, row.reply_seq)


async def claim(
    scope: Scope,
    request_id: str,
    method: str,
    fingerprint: str,
    session_id: uuid.UUID,
    user_seq: int | None = None,
) -> bool:
    """Records the key; False when it exists already (its transaction committed)."""
    result = await scope.connection.execute(
        insert(request_ids)
        .values(
            owner=scope.owner,
            request_id=request_id,
            method=method,
            fingerprint=fingerprint,
            session_id=session_id,
            user_seq=user_seq,
            create_time=sa.func.now(),
        )
        .on_conflict_do_nothing()
        .returning(request_ids.c.request_id)
    )
    return result.first() is not None


async def find(scope: Scope, request_id: str) -> RequestRecord | None:
    row = (
        await scope.connection.execute(
            sa.select(request_ids).where(
                request_ids.c.owner == scope.owner, request_ids.c.request_id == request_id
            )
        )
    ).one_or_none()
    return None if row is None else _record(row)
