"""Stored rows read past row-level security: snapshots that prove a call changed
nothing, and messages put in place for tests that need a conversation."""

import uuid

import asyncpg

TABLES = ("sessions", "messages", "request_ids", "events")

Snapshot = dict[str, list[str]]


async def snapshot(admin: asyncpg.Connection, *owners: str) -> Snapshot:
    """Every row of `owners` in every table, each rendered whole."""
    return {
        table: [
            row[0]
            for row in await admin.fetch(
                f"SELECT t::text FROM {table} t WHERE owner = ANY($1::text[]) ORDER BY 1",
                list(owners),
            )
        ]
        for table in TABLES
    }


async def seed_messages(
    admin: asyncpg.Connection, owner: str, session_id: str, contents: list[str]
) -> None:
    """Appends user/assistant messages to a session, as completed Sends would."""
    sid = uuid.UUID(session_id)
    async with admin.transaction():
        first = await admin.fetchval(
            "UPDATE sessions SET next_seq = next_seq + $3, message_count = message_count + $3"
            " WHERE owner = $1 AND id = $2 RETURNING next_seq - $3",
            owner,
            sid,
            len(contents),
        )
        await admin.executemany(
            "INSERT INTO messages (owner, session_id, seq, role, content, status, create_time)"
            " VALUES ($1, $2, $3, $4, $5, 1, now())",
            [
                (owner, sid, first + i, 2 if i % 2 == 0 else 3, content)
                for i, content in enumerate(contents)
            ],
        )
