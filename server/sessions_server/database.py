"""Connecting to PostgreSQL: the engine, the embedded server, and migrations."""

import logging
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from sessions_server.config import DEFAULT_DATABASE_ROLE, Settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def embedded_data_dir(settings: Settings) -> Path:
    return settings.data_dir or platformdirs.user_data_path("sessions-server") / "postgres"


def start_embedded(data_dir: Path) -> str:
    """Starts (or joins) the embedded PostgreSQL in `data_dir`; returns its URL.

    The server keeps its data in `data_dir` across restarts of the service and
    stops when the last process using it exits.
    """
    import pgserver  # imported here: only the embedded mode needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    uri = make_url(server.get_uri())
    log.info("embedded PostgreSQL in %s", data_dir)
    return uri.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def describe(url: str) -> str:
    """Where `url` points, for a log line (no user, no password)."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return start_embedded(embedded_data_dir(settings))


def create_engine(
    url: str, settings: Settings, *, role: str | None = None, pool_size: int | None = None
) -> AsyncEngine:
    """The service's engine: pooled, each connection acting as `settings.database_role`
    with a statement timeout.

    The role rides in the startup packet like the timeout, so it costs no round trip
    and survives `RESET ALL`. Acting as a role that neither owns the tables nor
    bypasses row security puts every statement under the owner policies.
    """
    server_settings = {
        "statement_timeout": str(settings.statement_timeout_ms),
        "application_name": "sessions-server",
    }
    role = settings.database_role if role is None else role
    if role:
        server_settings["role"] = role
    connect_args: dict[str, Any] = {
        "server_settings": server_settings,
        "timeout": settings.database_connect_timeout,
    }
    pool_size = pool_size or settings.db_pool_size
    return create_async_engine(
        url,
        pool_size=pool_size,
        # Every use is short (a Send holds a connection only to open and to close),
        # so a burst waits for a pooled connection rather than opening more: a new
        # one takes longer to connect and warm up than a busy one takes to free.
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout,
        # The most recently used connection first: at low load the same few stay
        # warm (cached plans, a running backend) instead of all of them going cold.
        pool_use_lifo=True,
        # No ping before each use (three round trips on every call): a dead
        # connection fails one call as DatabaseUnavailable and the pool renews.
        pool_recycle=1800,
        connect_args=connect_args,
    )


def alembic_config(
    url: str | None = None,
    role: str = DEFAULT_DATABASE_ROLE,
    connect_timeout: float | None = None,
) -> Config:
    """Alembic's configuration; `role` is the service role the migrations grant to."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["database_role"] = role
    config.attributes["connect_timeout"] = connect_timeout
    return config


def migrate(
    url: str, role: str = DEFAULT_DATABASE_ROLE, connect_timeout: float | None = None
) -> None:
    """Applies every pending migration as the login user of `url` (blocking; runs
    its own event loop)."""
    command.upgrade(alembic_config(url, role, connect_timeout), "head")


async def pending_migrations(url: str, connect_timeout: float) -> bool:
    """Whether the database is behind the code's newest migration; the first
    contact with it, bounded by `connect_timeout` seconds to connect and as many
    to answer.

    Asked as the login user: the service role may not exist before migrating.
    """
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    engine = create_async_engine(
        url,
        poolclass=NullPool,
        connect_args={"timeout": connect_timeout, "command_timeout": connect_timeout},
    )
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(current) != head
    finally:
        await engine.dispose()


async def row_security_applies(engine: AsyncEngine) -> bool:
    """Whether the engine's role is subject to row-level security (neither a
    superuser nor BYPASSRLS)."""
    async with engine.connect() as connection:
        exempt = await connection.scalar(
            sa.text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        )
    return exempt is False
