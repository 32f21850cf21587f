"""Transactions bound to one owner.

Queries take a `Scope` rather than a bare connection so that no statement can be
written without the owner it must filter by.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


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
            yield Scope(connection, owner)
