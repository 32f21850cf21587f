"""Idempotency keys (`request_id`), scoped to the owner."""

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from sessions_server.store.scope import Scope
from sessions_server.store.tables import request_ids


@dataclass(frozen=True)
class RequestRecord:
    method: str
    fingerprint: str
    session_id: uuid.UUID
    user_seq: int | None
    reply_seq: int | None


def _record(row: sa.Row[Any]) -> RequestRecord:
    return RequestRecord(row.method, row.fingerprint, row.session_id, row.user_seq, row.reply_seq)


async def find(scope: Scope, request_id: str) -> RequestRecord | None:
    row = (
        await scope.connection.execute(
            sa.select(request_ids).where(
                request_ids.c.owner == scope.owner, request_ids.c.request_id == request_id
            )
        )
    ).one_or_none()
    return None if row is None else _record(row)
