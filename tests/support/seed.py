"""Rows that only Send writes, put in place with SQL for tests of Get, Manage and List.

`add_messages` appends messages the way Send stores them: seqs taken from the
session's `next_seq`, which then moves on, with `message_count` and
`last_active_time` bumped in the same transaction. `hold_lease` marks the session
as held by a Send in flight; `set_last_active` forces activity times (for ties).
`add_sessions` makes many sessions at once through the store's own insert.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sessions_server.models import MessageStatus, Role
from sessions_server.store import Store
from sessions_server.store.tables import messages, sessions
from sqlalchemy.ext.asyncio import AsyncEngine


def _session(owner: str, session_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(sessions.c.owner == owner, sessions.c.id == uuid.UUID(session_id))


async def add_messages(
    engine: AsyncEngine, owner: str, session_id: str, contents: Sequence[str]
) -> list[int]:
    """Appends user / assistant messages alternately; returns their seqs."""
    count = len(contents)
    async with Store(engine).scope(owner) as scope:
        connection = scope.connection
        after: int = (
            await connection.execute(
                sa.update(sessions)
                .where(_session(owner, session_id))
                .values(
                    next_seq=sessions.c.next_seq + count,
                    message_count=sessions.c.message_count + count,
                    last_active_time=sa.func.now(),
                )
                .returning(sessions.c.next_seq)
            )
        ).scalar_one()
        seqs = list(range(after - count, after))
        await connection.execute(
            sa.insert(messages).values(
                [
                    {
                        "owner": owner,
                        "session_id": uuid.UUID(session_id),
                        "seq": seq,
                        "role": Role.USER if seq % 2 else Role.ASSISTANT,
                        "content": content,
                        "status": MessageStatus.COMPLETE,
                        "create_time": sa.func.now(),
                    }
                    for seq, content in zip(seqs, contents, strict=True)
                ]
            )
        )
    return seqs


async def hold_lease(engine: AsyncEngine, owner: str, session_id: str, seconds: float) -> None:
    """Marks the session as held by a Send for `seconds` (negative: a lapsed lease)."""
    async with Store(engine).scope(owner) as scope:
        connection = scope.connection
        await connection.execute(
            sa.update(sessions)
            .where(_session(owner, session_id))
            .values(
                lease_token=uuid.uuid4(),
                lease_expires=sa.func.now() + timedelta(seconds=seconds),
            )
        )


async def set_last_active(
    engine: AsyncEngine, owner: str, session_ids: Sequence[str], time: datetime
) -> None:
    async with Store(engine).scope(owner) as scope:
        connection = scope.connection
        await connection.execute(
            sa.update(sessions)
            .where(
                sessions.c.owner == owner,
                sessions.c.id.in_([uuid.UUID(s) for s in session_ids]),
            )
            .values(last_active_time=time)
        )


async def add_sessions(engine: AsyncEngine, owner: str, count: int) -> None:
    """`count` sessions named "bulk <i>", in one transaction (so all equally active)."""
    async with Store(engine).scope(owner) as scope:
        await scope.connection.execute(
            sa.text(
                "INSERT INTO sessions (owner, id, name, model, endpoint, create_time, "
                "update_time, last_active_time) "
                "SELECT :owner, gen_random_uuid(), 'bulk ' || (n - 1), 'demo', 'echo', "
                "now(), now(), now() FROM generate_series(1, :count) n"
            ),
            {"owner": owner, "count": count},
        )
