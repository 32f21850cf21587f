"""Transactions bound to one owner.

Queries take a `Scope` rather than a bare connection so that no statement can be
written without the owner it must filter by. The database enforces the same bound:
each transaction first sets `sessions.owner` (transaction-local, like SET LOCAL),
and the row-level security policies of migration 0004 admit only that owner's rows,
so a query that forgot its filter still sees nothing of anyone else.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
        """One transaction of `owner`: committed on success, rolled back on error."""
        async with self.engine.begin() as connection:
            await connection.execute(_SET_OWNER, {"owner": owner})
            yield Scope(connection, owner)
