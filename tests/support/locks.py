"""Holding a session's row lock from an admin connection, so that a call of the
service waits on it in PostgreSQL for as long as a test needs."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import asyncpg
from sessions_client import pb

if TYPE_CHECKING:
    from tests.conftest import Owner


@asynccontextmanager
async def row_locked(
    admin: asyncpg.Connection, owner: "Owner", session_id: str
) -> AsyncIterator[None]:
    """The session's row locked by another transaction until the block ends."""
    async with admin.transaction():
        await admin.execute(
            "SELECT 1 FROM sessions WHERE owner = $1 AND id = $2::uuid FOR UPDATE",
            owner.name,
            session_id,
        )
        yield


async def waits_on_a_lock(admin: asyncpg.Connection) -> bool:
    """Whether one of the service's statements is waiting on a lock now."""
    await admin.execute("SELECT pg_stat_clear_snapshot()")
    waiting: int = await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'sessions-server' AND wait_event_type = 'Lock'"
    )
    return waiting > 0


def rename(session_id: str, name: str) -> pb.ManageRequest:
    """A Manage that needs the session's row lock."""
    return pb.ManageRequest(session_id=session_id, rename=pb.Rename(name=name))
