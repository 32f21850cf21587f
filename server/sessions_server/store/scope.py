"""Transactions bound to one owner.

Queries take a `Scope` rather than a bare connection so that no statement can be
written without the owner it must filter by. The database enforces the same bound:
each transaction first sets `sessions.owner` (transaction-local, like SET LOCAL),
and the row-level security policies of migration 0004 admit only that owner's rows,
so a query that forgot its filter still sees nothing of anyone else.

The two writes on Send's hot path are stored functions that set the owner
themselves (migration 0008); `Store.call` runs one as a single round trip.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

from sessions_server.errors import DatabaseUnavailable

# One constant statement, so asyncpg prepares it once per connection.
_SET_OWNER = sa.select(sa.func.set_config("sessions.owner", sa.bindparam("owner"), True))


@dataclass(frozen=True)
class Scope:
    connection: AsyncConnection
    owner: str


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def scope(self, owner: str) -> AsyncIterator[Scope]:
        """One transaction of `owner`: committed on success, rolled back on error.

        A database that cannot serve the call now is `DatabaseUnavailable`: lost
        (a restart, a failover, no connection to be had), too slow (a statement
        past the statement timeout) or busy (no pooled connection free within the
        pool timeout). The pool is not pinged before each use (that costs three
        round trips); a connection found dead fails its one call, and SQLAlchemy
        then replaces every pooled connection older than the failure.
        """
        with _database_failures():
            async with self.engine.begin() as connection:
                await connection.execute(_SET_OWNER, {"owner": owner})
                yield Scope(connection, owner)

    async def call(self, statement: str, *arguments: Any) -> list[asyncpg.Record]:
        """The rows of `statement`, run on a pooled connection's asyncpg driver
        outside any explicit transaction: one round trip, no BEGIN or COMMIT, and
        none of SQLAlchemy's per-statement work. For statements that bind the owner
        themselves (the functions of migration 0008). Failures are mapped as in
        `scope`; a lost connection is dropped from the pool rather than reused.

        The connection is taken from the pool bare: an `AsyncConnection` around it
        would cost about 60 µs more CPU per call, for nothing used here.
        """
        with _database_failures():
            pooled = await self.engine.raw_connection()
            try:
                driver = pooled.driver_connection
                assert driver is not None
                try:
                    rows: list[asyncpg.Record] = await driver.fetch(statement, *arguments)
                except Exception as error:
                    if isinstance(error, _LOST) or driver.is_closed():
                        await greenlet_spawn(pooled.invalidate, error)
                        raise DatabaseUnavailable() from error
                    raise
                return rows
            finally:
                # Back to the pool; inside a greenlet, as the pool may talk to the driver.
                await greenlet_spawn(pooled.close)


_LOST = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


@contextmanager
def _database_failures() -> Iterator[None]:
    """Raises `DatabaseUnavailable` in place of a failure that means the database
    cannot serve now; lets every other exception through as it is."""
    try:
        yield
    except Exception as error:
        if (unavailable := _unavailable(error)) is None:
            raise
        raise unavailable from error


def _unavailable(error: Exception) -> DatabaseUnavailable | None:
    """What the caller is told when `error` means the database cannot serve now;
    None for any other failure."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return DatabaseUnavailable()
        cause = error.orig.__cause__ if error.orig is not None else None
        return _unavailable(cause) if isinstance(cause, Exception) else None
    if isinstance(error, asyncpg.QueryCanceledError):
        return DatabaseUnavailable("the database did not answer within the statement timeout")
    if isinstance(error, PoolTimeout):
        return DatabaseUnavailable("no database connection was free in time")
    if isinstance(error, _LOST):
        return DatabaseUnavailable()
    return None
