"""A fresh PostgreSQL database for one test run.

With `SESSIONS_TEST_DATABASE_URL` (a server we may create databases on) each run
gets a new database there, dropped afterwards; without it, an embedded PostgreSQL
starts in a temporary folder.
"""

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sessions_server import database
from sqlalchemy.engine import make_url


def asyncpg_url(url: str) -> str:
    """The URL as asyncpg itself takes it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _stop_embedded(data_dir: Path) -> None:
    """Stops the embedded PostgreSQL of `data_dir` before its folder is removed: a
    server still running there may write a new WAL file while the folder is being
    removed, and the removal then fails."""
    import pgserver  # as in `database.start_embedded`: only the embedded mode needs it

    pgserver.get_server(data_dir).cleanup()  # type: ignore[attr-defined]


@contextmanager
def fresh_database(base: str | None = None) -> Iterator[str]:
    """Yields the SQLAlchemy URL of an empty, migrated database, made on the server
    at `base` (default: `SESSIONS_TEST_DATABASE_URL`) or else an embedded one."""
    base = base or os.environ.get("SESSIONS_TEST_DATABASE_URL")
    if base is None:
        with tempfile.TemporaryDirectory(prefix="sessions-pg-") as folder:
            url = database.start_embedded(Path(folder))
            try:
                database.migrate(url)
                yield url
            finally:
                _stop_embedded(Path(folder))
        return
    server = make_url(base).set(drivername="postgresql+asyncpg")
    name = f"sessions_test_{uuid.uuid4().hex[:12]}"
    base_url = server.render_as_string(hide_password=False)
    asyncio.run(_admin(base_url, f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        database.migrate(url)
        yield url
    finally:
        asyncio.run(_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
