"""Alembic environment: runs migrations over the service's async engine."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from sessions_server.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    timeout = context.config.attributes.get("connect_timeout")
    engine = create_async_engine(
        context.config.get_main_option("sqlalchemy.url") or "",
        connect_args={} if timeout is None else {"timeout": timeout},
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(_run_async())
