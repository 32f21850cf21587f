"""Row-level security: the backstop under the store's owner filters.

The service acts as a role that neither owns the tables nor bypasses row security,
and each transaction names its owner. A query run in one owner's scope with no
owner filter, or with another owner's, reads and writes nothing of anyone else.
"""

import asyncio
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command
from sessions_client import pb
from sessions_server import database
from sessions_server.app import App
from sessions_server.errors import SessionNotFound
from sessions_server.store import Scope, Store
from sessions_server.store import messages as message_rows
from sessions_server.store import requests as request_rows
from sessions_server.store import sessions as session_rows
from sqlalchemy.exc import DBAPIError

from tests.conftest import Owner, Stub
from tests.support import rows
from tests.support.database import asyncpg_url, fresh_database

TABLES = rows.TABLES


@dataclass(frozen=True)
class Stored:
    """One owner's session with messages, an idempotency key and events."""

    owner: str
    session_id: str
    request_id: str


async def stored(stub: Stub, admin: asyncpg.Connection, owner: Owner) -> Stored:
    request_id = f"key-{uuid.uuid4().hex}"
    created = await stub.Create(
        pb.CreateRequest(name="private", model="m", request_id=request_id), metadata=owner.md
    )
    await rows.seed_messages(admin, owner.name, created.session.id, ["secret", "reply"])
    return Stored(owner.name, created.session.id, request_id)


@pytest.fixture
async def victim(stub: Stub, admin: asyncpg.Connection, owner: Owner) -> Stored:
    return await stored(stub, admin, owner)


@pytest.fixture
async def intruder(stub: Stub, admin: asyncpg.Connection, other_owner: Owner) -> Stored:
    return await stored(stub, admin, other_owner)


async def test_service_acts_as_a_role_row_security_applies_to(server: App) -> None:
    async with server.engine.connect() as connection:
        role = (
            await connection.execute(
                sa.text(
                    "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles"
                    " WHERE rolname = current_user"
                )
            )
        ).one()
        tables = (
            await connection.execute(
                sa.text(
                    "SELECT relname, pg_get_userbyid(relowner), relrowsecurity,"
                    " relforcerowsecurity FROM pg_class WHERE relname = ANY(:tables)"
                    " AND relkind = 'r' ORDER BY relname"
                ),
                {"tables": list(TABLES)},
            )
        ).all()
    assert tuple(role) == ("sessions_app", False, False)
    assert [(name, forced, enabled) for name, _, enabled, forced in tables] == [
        (name, True, True) for name in sorted(TABLES)
    ]
    assert "sessions_app" not in {owner for _, owner, _, _ in tables}


async def test_query_without_owner_filter_sees_only_the_scope_owner(
    server: App, victim: Stored, intruder: Stored
) -> None:
    async with Store(server.engine).scope(intruder.owner) as scope:
        for table in TABLES:
            seen = await scope.connection.execute(sa.text(f"SELECT DISTINCT owner FROM {table}"))
            assert seen.scalars().all() == [intruder.owner], table


async def test_store_queries_given_another_owner_find_nothing(
    server: App, victim: Stored, intruder: Stored
) -> None:
    victim_id = uuid.UUID(victim.session_id)
    async with Store(server.engine).scope(intruder.owner) as scope:
        # The store's own queries, filtering by the victim as a bug would.
        forged = Scope(scope.connection, victim.owner)
        with pytest.raises(SessionNotFound):
            await session_rows.get(forged, victim_id)
        [page] = await scope.connection.execute(
            sa.text(
                "SELECT count(*) FROM session_page(:owner, 'include', false, '', 'infinity', "
                "'ffffffff-ffff-ffff-ffff-ffffffffffff', NULL)"
            ),
            {"owner": victim.owner},
        )
        assert page == (0,)
        assert await message_rows.newest(forged, victim_id, 100) == ([], False)
        assert await request_rows.find(forged, victim.request_id) is None


async def test_statements_without_the_owner_set_see_no_row(
    server: App, victim: Stored, intruder: Stored
) -> None:
    """A transaction of the service's role that never named its owner (a statement
    the store or a stored function ran before `set_config`) reads nothing."""
    async with server.engine.begin() as connection:
        for table in TABLES:
            counted = await connection.scalar(sa.text(f"SELECT count(*) FROM {table}"))
            assert counted == 0, table


async def test_writes_without_owner_filter_change_only_the_scope_owner(
    server: App, admin: asyncpg.Connection, victim: Stored, intruder: Stored
) -> None:
    before = await rows.snapshot(admin, victim.owner)
    async with Store(server.engine).scope(intruder.owner) as scope:
        renamed = await scope.connection.execute(sa.text("UPDATE sessions SET name = 'mine'"))
        removed = await scope.connection.execute(sa.text("DELETE FROM messages"))
        forgotten = await scope.connection.execute(sa.text("DELETE FROM request_ids"))
    assert (renamed.rowcount, removed.rowcount, forgotten.rowcount) == (1, 2, 1)
    assert await rows.snapshot(admin, victim.owner) == before
    assert (await rows.snapshot(admin, intruder.owner))["messages"] == []


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO sessions (owner, id, name, model, endpoint, create_time, update_time,"
        " last_active_time) VALUES (:victim, gen_random_uuid(), 'planted', 'm', 'echo',"
        " now(), now(), now())",
        "UPDATE sessions SET owner = :victim",
        "INSERT INTO events (owner, session_id, type, time)"
        " VALUES (:victim, gen_random_uuid(), 1, now())",
    ],
    ids=["insert a session", "move a session", "insert an event"],
)
async def test_rows_of_another_owner_cannot_be_written(
    statement: str, server: App, admin: asyncpg.Connection, victim: Stored, intruder: Stored
) -> None:
    before = await rows.snapshot(admin, victim.owner)
    with pytest.raises(DBAPIError, match="row-level security"):
        async with Store(server.engine).scope(intruder.owner) as scope:
            await scope.connection.execute(sa.text(statement), {"victim": victim.owner})
    assert await rows.snapshot(admin, victim.owner) == before


async def test_a_connection_outside_any_scope_sees_nothing(
    server: App, admin: asyncpg.Connection, victim: Stored
) -> None:
    assert await admin.fetchval("SELECT count(*) FROM sessions") > 0
    async with server.engine.connect() as connection:
        for table in TABLES:
            count = await connection.scalar(sa.text(f"SELECT count(*) FROM {table}"))
            assert count == 0, table


async def test_truncate_which_ignores_row_security_is_not_granted(server: App) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        async with server.engine.begin() as connection:
            await connection.execute(sa.text("TRUNCATE events"))


async def _migrate(url: str, role: str) -> None:
    """`sessions-server migrate` in its own process, as a deployment runs it."""
    env = {**os.environ, "SESSIONS_DATABASE_URL": url, "SESSIONS_DATABASE_ROLE": role}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sessions_server", "migrate", env=env, stderr=subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()


def _migrate_two_databases_at_once(role: str) -> list[str]:
    """Migrates two databases concurrently to a role that does not exist yet;
    returns, per database, what the role may do to `sessions`."""
    with fresh_database() as first, fresh_database() as second:
        for url in (first, second):
            command.downgrade(database.alembic_config(url), "0002")

        async def both() -> list[str]:
            await asyncio.gather(*(_migrate(url, role) for url in (first, second)))
            return [await _privileges(url, role) for url in (first, second)]

        return asyncio.run(both())


async def _privileges(url: str, role: str) -> str:
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        granted: str = await connection.fetchval(
            "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type)"
            " FROM information_schema.role_table_grants"
            " WHERE grantee = $1 AND table_name = 'sessions'",
            role,
        )
        return granted
    finally:
        await connection.close()


async def test_migrations_share_the_cluster_wide_role_across_databases(
    admin: asyncpg.Connection,
) -> None:
    role = f"sessions_race_{uuid.uuid4().hex[:8]}"
    try:
        granted = await asyncio.to_thread(_migrate_two_databases_at_once, role)
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
    assert granted == ["DELETE,INSERT,SELECT,UPDATE"] * 2
