"""What the service asked PostgreSQL: a record of the statements an engine ran.

An observer, not a stand-in: the store runs for real, and a test can show that a
refused call never reached it (no statement ever carried the caller's owner).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from asyncpg.connection import LoggedQuery
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

Statements = list[tuple[str, Any]]


@contextmanager
def recorded(engine: AsyncEngine) -> Iterator[Statements]:
    """Collects (statement, parameters) of everything `engine` runs meanwhile:
    through SQLAlchemy, and on the driver's connections straight (`Store.call`)."""
    seen: Statements = []
    hooked: list[asyncpg.Connection] = []

    def record(connection: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        seen.append((statement, parameters))

    def logged(query: LoggedQuery) -> None:
        seen.append((query.query, query.args))

    def checked_out(dbapi_connection: Any, *rest: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver not in hooked:
            driver.add_query_logger(logged)
            hooked.append(driver)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    event.listen(engine.sync_engine.pool, "checkout", checked_out)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        event.remove(engine.sync_engine.pool, "checkout", checked_out)
        for driver in hooked:
            driver.remove_query_logger(logged)


def mentioning(seen: Statements, value: str) -> Statements:
    """The statements whose parameters include `value`."""
    return [(statement, parameters) for statement, parameters in seen if value in repr(parameters)]
