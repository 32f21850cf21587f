"""What the service asked PostgreSQL: a record of the statements an engine ran.

An observer, not a stand-in: the store runs for real, and a test can show that a
refused call never reached it (no statement ever carried the caller's owner).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

Statements = list[tuple[str, Any]]


@contextmanager
def recorded(engine: AsyncEngine) -> Iterator[Statements]:
    """Collects (statement, parameters) of everything `engine` runs meanwhile."""
    seen: Statements = []

    def record(connection: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def mentioning(seen: Statements, value: str) -> Statements:
    """The statements whose parameters include `value`."""
    return [(statement, parameters) for statement, parameters in seen if value in repr(parameters)]
