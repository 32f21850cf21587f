"""The List page query is served by the (owner, last_active_time DESC, id DESC) index,
or for starred-only pages by the same index over starred sessions.

The query explained is the one `list_sessions` runs (`session_page`, inlined, with
its starred flag a constant), as a generic plan, the plan a PL/pgSQL function keeps
for its connection, over a table holding many owners' sessions and freshly
analyzed, so the planner chooses as it would in production. An index scan in that
order needs no Sort: the cost of a page does not grow with the owner's session
count.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sessions_server.app import App
from sessions_server.models import ArchivedFilter, Cursor, ListQuery
from sessions_server.store import Store
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.page_plans import explain_page

INDEX = "sessions_owner_activity"
STARRED_INDEX = "sessions_owner_starred_activity"
"""The same order over starred sessions only (partial): starred-only pages walk it."""
BIG = 10_000  # sessions of the one big owner
MEDIUM = 1_000  # sessions of each of the medium owners
MEDIUM_OWNERS = 10
SMALL = 25  # sessions of each of the many small owners
SMALL_OWNERS = 400


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.fixture(scope="module")
async def populated(admin_engine: AsyncEngine) -> dict[str, str]:
    """One big owner, a few medium ones and many small ones; returns a big and a
    medium owner, whose pages must not cost more than a small owner's.

    A tenth of the sessions are archived and a twentieth starred, as in real use.
    Where few rows match (a small owner) the planner may rightly fetch them all and
    sort them: that cost is bounded by the matches.
    """
    prefix = f"plan-{uuid.uuid4().hex[:8]}-"
    async with admin_engine.begin() as connection:
        await connection.execute(
            sa.text(
                """
                INSERT INTO sessions (owner, id, name, model, endpoint, archived, starred,
                                      create_time, update_time, last_active_time)
                SELECT CAST(:prefix AS text) || CASE
                           WHEN n <= CAST(:big AS int) THEN 'big'
                           WHEN n <= CAST(:big AS int) + CAST(:medium AS int)
                               THEN 'medium-' || (n % CAST(:medium_owners AS int))
                           ELSE 'small-' || (n % CAST(:small_owners AS int)) END,
                       gen_random_uuid(), 'plan session ' || n, 'demo', 'echo',
                       n % 10 = 0, n % 20 = 0,
                       now(), now(), now() - make_interval(secs => n)
                FROM generate_series(1, CAST(:total AS int)) AS n
                """
            ),
            {
                "prefix": prefix,
                "big": BIG,
                "medium": MEDIUM * MEDIUM_OWNERS,
                "medium_owners": MEDIUM_OWNERS,
                "small_owners": SMALL_OWNERS,
                "total": BIG + MEDIUM * MEDIUM_OWNERS + SMALL * SMALL_OWNERS,
            },
        )
        await connection.execute(sa.text("ANALYZE sessions"))
    return {"big": prefix + "big", "medium": prefix + "medium-3"}


CASES = {
    "big_default": ("big", ListQuery()),
    "big_include_archived": ("big", ListQuery(archived=ArchivedFilter.INCLUDE)),
    "big_only_archived": ("big", ListQuery(archived=ArchivedFilter.ONLY)),
    "big_starred_only": ("big", ListQuery(starred_only=True)),
    "medium_starred_only": ("medium", ListQuery(starred_only=True)),
    "big_text": ("big", ListQuery(text="session 1")),
    "medium_default": ("medium", ListQuery()),
    "medium_include_archived": ("medium", ListQuery(archived=ArchivedFilter.INCLUDE)),
}


@pytest.mark.parametrize(("owner", "query"), CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("paged", [False, True], ids=["first_page", "later_page"])
async def test_list_page_is_an_index_scan_without_sort(
    server: App, populated: dict[str, str], owner: str, query: ListQuery, paged: bool
) -> None:
    # A later page starts about an hour back: inside the big owner's sessions.
    after = Cursor(datetime.now(UTC) - timedelta(hours=1), uuid.uuid4()) if paged else None
    async with Store(server.engine).scope(populated[owner]) as scope:
        [explained] = await explain_page(scope.connection, populated[owner], query, after, 51)
        plan = explained[0]["Plan"]
    nodes = list(_nodes(plan))
    types = [node["Node Type"] for node in nodes]
    assert types[0] == "Limit", types
    assert "Sort" not in types, nodes
    assert "Incremental Sort" not in types, types
    scans = [node for node in nodes if node["Node Type"] in ("Index Scan", "Index Only Scan")]
    expected = STARRED_INDEX if query.starred_only else INDEX
    assert [scan["Index Name"] for scan in scans] == [expected], nodes
    assert scans[0]["Scan Direction"] == "Forward"
    assert "owner" in scans[0]["Index Cond"]
    if paged:
        assert "last_active_time" in scans[0]["Index Cond"]
