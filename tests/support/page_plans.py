"""The plan of a List page as the server runs it: `session_page`, inlined, with its
starred flag a constant, as the generic plan that `list_sessions` (PL/pgSQL) keeps
for its connection."""

import uuid
from typing import Any

from sessions_server.models import Cursor, ListQuery
from sqlalchemy.ext.asyncio import AsyncConnection

START = ("infinity", str(uuid.UUID(int=2**128 - 1)))
"""The position `list_sessions` starts a first page from."""


async def explain_page(
    connection: AsyncConnection,
    owner: str,
    query: ListQuery,
    after: Cursor | None,
    limit: int,
    options: str = "FORMAT JSON",
) -> list[Any]:
    """The rows of `EXPLAIN (options) EXECUTE` of the page's query, generic plan."""
    name = f"page_{uuid.uuid4().hex}"
    starred = "true" if query.starred_only else "false"
    await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    await connection.exec_driver_sql(
        f"PREPARE {name} (text, text, text, timestamptz, uuid, integer) AS "
        f"SELECT * FROM session_page($1, $2, {starred}, $3, $4, $5, $6)"
    )
    position = (after.last_active_time.isoformat(), str(after.id)) if after else START
    arguments = ", ".join(
        [*map(_literal, (owner, query.archived.value, query.text, *position)), str(limit)]
    )
    try:
        result = await connection.exec_driver_sql(
            f"EXPLAIN ({options}) EXECUTE {name}({arguments})"
        )
        return [row for (row,) in result]
    finally:
        await connection.exec_driver_sql(f"DEALLOCATE {name}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
