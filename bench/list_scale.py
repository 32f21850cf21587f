"""List at scale: 1k, 100k and 1M sessions across 1k owners.

Each scale lives in its own throwaway database served by its own server process,
so the rounds of the three scales interleave and a noisy moment on the machine
hits them alike. Rows are generated inside PostgreSQL by one set-returning
`INSERT … SELECT generate_series` per scale (faster than shipping a million rows
over COPY), then `VACUUM ANALYZE` brings the tables to their steady state.

Owners' shares follow Zipf's law (owner k holds a share ∝ 1/k), as real tenants
do: the heaviest owner holds ~13% of all sessions, so that at every scale its
List has full pages and, at 1M, 133k sessions to page through. That owner is the
one measured: the first page, and a page 90% of the way down its list, reached
with a page token built by the server's own encoder.
"""

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass

import grpc
import uvloop
from sessions_client import pb
from sessions_server import page_tokens
from sessions_server.config import Settings
from sessions_server.database import create_engine
from sessions_server.models import Cursor, ListQuery
from sessions_server.store import Store

from bench.common import (
    Load,
    Ratio,
    Report,
    SessionStub,
    Table,
    Target,
    as_user,
    bench_database,
    closed_loop,
    connect,
    interleaved_rounds,
    ms,
    server_process,
)
from tests.support.page_plans import explain_page

NAME = "list_scale"
SCALES = {"1k": 1_000, "100k": 100_000, "1M": 1_000_000}
OWNERS = 1_000
PAGE_SIZE = 50
SECONDS = 1.5
DEPTH = 0.9
"""The deep page starts this far down the heaviest owner's list."""

SEED = """
INSERT INTO sessions (owner, id, name, model, endpoint, archived, starred,
                      create_time, update_time, last_active_time)
SELECT owner, gen_random_uuid(), 'session ' || n, 'echo', 'echo',
       random() < 0.05, random() < 0.02, at - interval '1 day', at, at
FROM (SELECT o.owner, g.n, now() - random() * interval '365 days' AS at
      FROM unnest($1::text[], $2::bigint[]) AS o(owner, count),
           generate_series(1, o.count) AS g(n)
      OFFSET 0) AS generated
"""
# OFFSET 0 keeps the subquery from being flattened, so `at` is drawn once per row.


def owner_name(rank: int) -> str:
    return f"owner-{rank:04d}"


def zipf_counts(total: int) -> list[int]:
    """Sessions of owners 1..OWNERS summing to `total`, owner k's share ∝ 1/k."""
    weights = [1.0 / k for k in range(1, OWNERS + 1)]
    shares = [total * w / sum(weights) for w in weights]
    counts = [int(share) for share in shares]
    # Largest remainders first, so that rounding keeps every share in proportion.
    by_remainder = sorted(range(OWNERS), key=lambda k: counts[k] - shares[k])
    for k in by_remainder[: total - sum(counts)]:
        counts[k] += 1
    return counts


@dataclass(frozen=True)
class Scale:
    label: str
    total: int
    address: str
    heaviest: str
    visible: int
    """The heaviest owner's sessions that List shows by default (not archived)."""
    deep_token: str


async def _seed(url: str, label: str, total: int) -> tuple[str, int, str]:
    heaviest = owner_name(1)
    counts = zipf_counts(total)
    async with connect(url) as connection:
        await connection.execute(SEED, [owner_name(k) for k in range(1, OWNERS + 1)], counts)
        await connection.execute("VACUUM ANALYZE sessions")
        # The counts trigger updated each owner's row once per seeded session, all
        # in one transaction: vacuum its dead versions as autovacuum would.
        await connection.execute("VACUUM ANALYZE session_counts")
        visible = await connection.fetchval(
            "SELECT count(*) FROM sessions WHERE owner = $1 AND NOT archived", heaviest
        )
        row = await connection.fetchrow(
            """SELECT last_active_time, id FROM sessions WHERE owner = $1 AND NOT archived
               ORDER BY last_active_time DESC, id DESC OFFSET $2 LIMIT 1""",
            heaviest,
            max(0, min(int(DEPTH * visible), visible - PAGE_SIZE) - 1),
        )
    cursor = Cursor(row["last_active_time"], row["id"])
    return heaviest, visible, page_tokens.encode(cursor, heaviest, ListQuery())


async def _explain(url: str, owner: str, token: str) -> list[str]:
    """EXPLAIN ANALYZE of the deep page's query as the server runs it: the generic
    plan `list_sessions` keeps for `session_page`, as the owner (row security
    admits only the owner's rows)."""
    engine = create_engine(url, Settings())
    try:
        after = page_tokens.decode(token, owner, ListQuery())
        async with Store(engine).scope(owner) as scope:
            lines = await explain_page(
                scope.connection,
                owner,
                ListQuery(),
                after,
                PAGE_SIZE + 1,
                "ANALYZE, BUFFERS, COSTS OFF",
            )
        return ["  session_page (generic plan)", *(f"    {line}" for line in lines)]
    finally:
        await engine.dispose()


async def _measure(urls: dict[str, str], report: Report) -> None:
    async with AsyncExitStack() as stack:
        scales: list[Scale] = []
        plans: list[str] = []
        for label, total in SCALES.items():
            url = urls[label]
            heaviest, visible, token = await _seed(url, label, total)
            if total == max(SCALES.values()):
                plans = await _explain(url, heaviest, token)
            server = await stack.enter_async_context(server_process(url))
            scales.append(Scale(label, total, server.address, heaviest, visible, token))

        scenarios: dict[str, Callable[[], Awaitable[Load]]] = {}
        for scale in scales:
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(scale.address))
            stub = SessionStub(channel)
            for page, token in (("first", ""), ("deep", scale.deep_token)):
                scenarios[f"{scale.label} {page}"] = _lister(stub, scale.heaviest, token)
        summaries = await interleaved_rounds(scenarios)

    table = Table(
        "List at scale: heaviest of 1k owners (Zipf shares), page of 50, medians of 3 rounds",
        ["sessions", "owner's sessions", "page", "p50 ms", "p99 ms", "p99 ÷ 1k's"],
    )
    smallest = scales[0].label
    for page in ("first", "deep"):
        base = summaries[f"{smallest} {page}"]
        for scale in scales:
            summary = summaries[f"{scale.label} {page}"]
            table.add(
                scale.label,
                scale.visible,
                page,
                ms(summary.p50),
                ms(summary.p99),
                Ratio(summary.p99 / base.p99),
            )
    largest = scales[-1].label
    for page in ("first", "deep"):
        table.targets.append(
            Target(
                f"List p99 {page} page, {largest} ÷ {smallest}",
                summaries[f"{largest} {page}"].p99 / summaries[f"{smallest} {page}"].p99,
                1.2,
            )
        )
    uses_index = any("sessions_owner_activity" in line for line in plans)
    table.notes.append(
        f"deep page: starts {DEPTH:.0%} down the owner's list (token from the server's encoder); "
        "sessions seeded by INSERT … SELECT generate_series, then VACUUM ANALYZE"
    )
    table.notes.append(
        f"EXPLAIN ANALYZE of the deep page at {largest} (the statements the store runs); "
        f"page served by sessions_owner_activity: {'yes' if uses_index else 'NO'}"
    )
    table.notes.extend(plans)
    report.add(NAME, table)


def _lister(stub: SessionStub, owner: str, token: str) -> Callable[[], Awaitable[Load]]:
    request = pb.ListRequest(page_size=PAGE_SIZE, page_token=token)

    async def call(worker: int) -> object:
        response = await stub.List(request, metadata=as_user(owner))
        if len(response.sessions) != PAGE_SIZE:
            raise AssertionError(f"expected a full page, got {len(response.sessions)}")
        return response

    return lambda: closed_loop(call, 1, SECONDS)


def run(report: Report) -> None:
    with ExitStack() as stack:
        urls = {label: stack.enter_context(bench_database()) for label in SCALES}
        uvloop.run(_measure(urls, report))


if __name__ == "__main__":
    run(Report())
