"""What the database holds after a fault, against what the clients were told.

Read with a superuser connection, which bypasses row security. Once the load has
stopped: every acknowledged write is stored (`lost` otherwise), no unique text is
stored twice (`duplicated`), no lease outlives `LEASE_SECONDS` (`leases_left`),
and once the leases lapsed and the sessions were read (a Get settles a reply
whose process died), no reply is still IN_PROGRESS (`unsettled`).
"""

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg
import grpc
from sessions_client import pb

from faults.ledger import Ledger
from faults.stack import LEASE_SECONDS, Stack

IN_PROGRESS = pb.MESSAGE_STATUS_IN_PROGRESS
USER = pb.ROLE_USER


@dataclass
class Verdict:
    acknowledged: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    leases_left: int = 0
    settled: int = 0
    """Replies found IN_PROGRESS with their lease lapsed, settled by a Get."""
    unsettled: int = 0

    @property
    def passed(self) -> bool:
        return not (self.lost or self.duplicated or self.leases_left or self.unsettled)


async def verify(stack: Stack, ledger: Ledger, since: float | None = None) -> Verdict:
    """Checks the database against `ledger`, once `LEASE_SECONDS` have passed since
    `since` (default: now), the moment the load stopped."""
    since = time.monotonic() if since is None else since
    await asyncio.sleep(max(0.0, since + LEASE_SECONDS + 0.3 - time.monotonic()))
    await stack.admin_until_up()
    verdict = Verdict(ledger.acknowledged)
    async with stack.admin() as admin:
        owners = sorted(ledger.owners)
        verdict.leases_left = await admin.fetchval(
            "SELECT count(*) FROM sessions WHERE lease_expires > now()"
        )
        verdict.settled = await _settle(stack, admin, owners)
        verdict.unsettled = await admin.fetchval(
            "SELECT count(*) FROM messages WHERE owner = ANY($1) AND status = $2",
            owners,
            IN_PROGRESS,
        )
        await _sessions(admin, ledger, verdict)
        await _user_messages(admin, ledger, verdict)
        await _replies(admin, ledger, verdict)
        await _duplicates(admin, owners, verdict)
    return verdict


async def _settle(stack: Stack, admin: asyncpg.Connection, owners: list[str]) -> int:
    """Reads, through a live replica, every session holding a reply IN_PROGRESS."""
    rows = await admin.fetch(
        "SELECT DISTINCT owner, session_id::text AS id FROM messages"
        " WHERE owner = ANY($1) AND status = $2",
        owners,
        IN_PROGRESS,
    )
    live = [replica for replica in stack.replicas if replica.alive]
    for row in rows:
        metadata = (("x-owner", row["owner"]), ("x-actor", "user"))
        request = pb.GetRequest(session_id=row["id"], messages_limit=1)
        for replica in live:
            try:
                await replica.stub.Get(request, metadata=metadata, timeout=10)
                break
            except grpc.aio.AioRpcError:
                continue
    return len(rows)


async def _sessions(admin: asyncpg.Connection, ledger: Ledger, verdict: Verdict) -> None:
    kept = [sid for sid in ledger.sessions if sid not in ledger.deleted | ledger.unknown]
    found = {
        row["id"]
        for row in await admin.fetch(
            "SELECT id::text AS id FROM sessions WHERE id = ANY($1::uuid[])",
            list(ledger.sessions),
        )
    }
    verdict.lost += [f"session {sid} (created)" for sid in kept if sid not in found]
    verdict.lost += [f"session {sid} (deleted, still there)" for sid in ledger.deleted & found]


async def _user_messages(admin: asyncpg.Connection, ledger: Ledger, verdict: Verdict) -> None:
    started = [record for record in ledger.sends if record.started]
    stored: dict[str, list[str]] = defaultdict(list)
    for row in await admin.fetch(
        "SELECT m.content, m.session_id::text AS session_id FROM messages m"
        " JOIN sessions s ON s.owner = m.owner AND s.id = m.session_id"
        " WHERE m.role = $1 AND s.forked_from IS NULL AND m.content = ANY($2)",
        USER,
        [record.content for record in started],
    ):
        stored[row["content"]].append(row["session_id"])
    for record in started:
        sessions = stored.get(record.content, [])
        if sessions != [record.session_id]:
            verdict.lost.append(
                f"Send {record.request_id}: user message in {sessions or 'no session'}"
                f", started in {record.session_id}"
            )


async def _replies(admin: asyncpg.Connection, ledger: Ledger, verdict: Verdict) -> None:
    """Every reply as a `completed` or a Cancel's answer told it, each on its own
    (a Send and a Cancel of one reply must both match what is stored)."""
    told: list[tuple[str, str, int, int, str]] = [
        (f"Send {record.request_id}", record.session_id, *record.completed)
        for record in ledger.sends
        if record.completed is not None
    ]
    told += [
        (
            f"Cancel of {reply.session_id}/{reply.seq}",
            reply.session_id,
            reply.seq,
            reply.status,
            reply.content,
        )
        for reply in ledger.replies
    ]
    rows = await admin.fetch(
        "SELECT m.session_id::text AS session_id, m.seq, m.status, m.content FROM messages m"
        " JOIN unnest($1::uuid[], $2::bigint[]) AS k(session_id, seq)"
        " ON m.session_id = k.session_id AND m.seq = k.seq",
        [session_id for _, session_id, _, _, _ in told],
        [seq for _, _, seq, _, _ in told],
    )
    stored = {(row["session_id"], row["seq"]): (row["status"], row["content"]) for row in rows}
    for what, session_id, seq, status, content in told:
        found = stored.get((session_id, seq))
        if found != (status, content):
            shown = "nothing" if found is None else f"status {found[0]}, {len(found[1])} chars"
            verdict.lost.append(
                f"{what}: told status {status}, {len(content)} chars; stored {shown}"
            )


async def _duplicates(admin: asyncpg.Connection, owners: list[str], verdict: Verdict) -> None:
    for row in await admin.fetch(
        "SELECT m.content, count(*) AS n FROM messages m"
        " JOIN sessions s ON s.owner = m.owner AND s.id = m.session_id"
        " WHERE m.owner = ANY($1) AND m.role = $2 AND s.forked_from IS NULL"
        " GROUP BY m.content HAVING count(*) > 1",
        owners,
        USER,
    ):
        verdict.duplicated.append(f"user message stored {row['n']} times: {row['content'][:60]!r}")
    for row in await admin.fetch(
        "SELECT name, count(*) AS n FROM sessions WHERE owner = ANY($1)"
        " AND forked_from IS NULL GROUP BY name HAVING count(*) > 1",
        owners,
    ):
        verdict.duplicated.append(f"session created {row['n']} times: {row['name']!r}")
