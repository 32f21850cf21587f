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

from sessions_server.errors import DatabaseConflict, DatabaseUnavailable, ServiceError

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
        themselves (the functions of `sql/`). Failures are mapped as in `scope`; a
        lost connection is dropped from the pool rather than reused; a deadlock or
        serialization failure is tried once more.

        The connection is taken from the pool bare: an `AsyncConnection` around it
        would cost about 60 µs more CPU per call, for nothing used here.
        """
        try:
            return await self._fetch(statement, arguments)
        except DatabaseConflict:
            # One statement, rolled back whole: running it again is safe.
            return await self._fetch(statement, arguments)

    async def _fetch(self, statement: str, arguments: tuple[Any, ...]) -> list[asyncpg.Record]:
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


_CONFLICTS = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
"""Transactions PostgreSQL rolled back to let another through: a retry may pass."""

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
    """Raises a `DatabaseUnavailable` (or `DatabaseConflict`) in place of a failure
    that means the database cannot serve now; lets every other exception through
    as it is. The one place where database failures become service errors."""
    try:
        yield
    except Exception as error:
        if (unavailable := database_failure(error)) is None:
            raise
        raise unavailable from error


def database_failure(error: BaseException) -> ServiceError | None:
    """What the caller is told when `error`, or an error it was raised from, means
    the database cannot serve now; None for any other failure. SQLAlchemy raises
    the driver's errors wrapped (`DBAPIError.orig`) or adapted (`__cause__`), and
    some, such as a refused connection, bare."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return DatabaseUnavailable()
        if isinstance(seen, asyncpg.QueryCanceledError):
            return DatabaseUnavailable("the database did not answer within the statement timeout")
        if isinstance(seen, asyncpg.LockNotAvailableError):
            return DatabaseUnavailable("a lock was not granted within the lock timeout")
        if isinstance(seen, PoolTimeout):
            return DatabaseUnavailable("no database connection was free in time")
        if isinstance(seen, _CONFLICTS):
            return DatabaseConflict()
        if isinstance(seen, _LOST):
            return DatabaseUnavailable()
        if isinstance(seen, DBAPIError) and seen.orig is not None:
            seen = seen.orig
        else:
            seen = seen.__cause__
    return None
