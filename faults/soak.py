"""`python -m faults.soak` (`make soak`): two replicas under a steady mixed load
for `SOAK_SECONDS` (default 600) while things go wrong on a schedule.

    SOAK_SECONDS=60 python -m faults.soak [--keep-logs]

Four clients (each an owner with sessions of its own) call Create, streaming Send
with a request_id, Get, List and Manage on both replicas, retrying as a careful
client does; each owner keeps one Watch open, re-opened after its last event
whenever it ends. PostgreSQL crashes (`pg_ctl stop -m immediate`) at a third of
the run and is restarted (`-m fast`) at two thirds; replica b is SIGKILLed at
half time and started again 3 s later (the clients meanwhile reach a only). Every
seventh Send's endpoint misbehaves: 500s, 429s, a 500 the server retries past, a
stream that stalls, a stream cut, in turn.

At the end: calls by code, acknowledged writes lost or stored twice (by SQL, as
`python -m faults` checks), leases left once they had time to lapse; per replica
RSS after warm-up, at half time and at the end with its least-squares slope after
warm-up (the restarted replica's from its restart plus the warm-up), open fds and
the service's database connections against their baseline after warm-up. Exits 1
when anything acknowledged was lost or duplicated, a call ended INTERNAL or
UNKNOWN, a lease was left, a slope over at least `SLOPE_MIN_WINDOW` of samples
reached `RSS_SLOPE_LIMIT`, or fds or connections ended above their baseline by
more than their margin.
"""

import argparse
import asyncio
import itertools
import os
import random
import sys
import time
from dataclasses import dataclass, field

import uvloop

from faults.checks import Verdict, verify
from faults.ledger import FORBIDDEN, Ledger
from faults.load import Client, Running, Watcher, Worker, unique
from faults.report import table
from faults.stack import LEASE_SECONDS, POOL_SIZE, Replica, Stack, stack
from faults.vitals import Sample, Vitals, nearest, slope_per_minute
from tests.support.fake_upstream import Script

DEFAULT_SECONDS = 600.0
WORKERS = 4
RSS_SLOPE_LIMIT = 1.0
"""MiB per minute, after warm-up."""
SLOPE_MIN_WINDOW = 180.0
"""Seconds of samples a slope needs to be judged: over a shorter window (a short
run, `SOAK_SECONDS=60`) what a process still settles after its warm-up outweighs
any leak, so the slope is shown but not judged."""
FD_MARGIN = 10
"""Open fds a replica may end with above its baseline."""
CONNECTION_MARGIN = 4
"""Pooled connections the replicas together may end with above their baseline
(a pool opens connections as load peaks; it never holds more than its size)."""


def warm_up(seconds: float) -> float:
    return min(60.0, seconds / 6)


def misbehaving(n: int) -> Script:
    """The endpoint's script for the n-th Send: every seventh misbehaves."""
    kinds = [
        Script(tokens=6, statuses=[{"status": 500}] * 3),
        Script(tokens=6, statuses=[{"status": 429, "retry_after": 0}] * 3),
        Script(tokens=6, statuses=[{"status": 500}]),
        Script(tokens=8, delay=0.01, stall_after=3),
        Script(tokens=8, delay=0.01, cut_after=3),
    ]
    if n % 7 == 6:
        return kinds[(n // 7) % len(kinds)]
    return Script(tokens=3 + n % 13, delay=(0.0, 0.01, 0.02)[n % 3])


@dataclass
class Timeline:
    began: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.began

    def note(self, what: str) -> None:
        self.events.append(f"{self.now():6.1f} s  {what}")
        print(f"soak: {self.now():.0f} s: {what}", file=sys.stderr, flush=True)

    async def until(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - self.now()))


async def faults_on_schedule(built: Stack, seconds: float, timeline: Timeline) -> float:
    """The run's faults; returns when replica b's new process started."""
    b = built.replicas[1]
    await timeline.until(seconds / 3)
    timeline.note("PostgreSQL crashes (stop -m immediate)")
    await asyncio.to_thread(built.cluster.stop, "immediate")
    await asyncio.sleep(2.0)
    await asyncio.to_thread(built.cluster.start)
    timeline.note("PostgreSQL started again (crash recovery)")
    await timeline.until(seconds / 2)
    b.process.kill()
    timeline.note(f"replica b SIGKILLed (pid {b.pid})")
    await asyncio.sleep(3.0)
    await built.restart(b)
    restarted = timeline.now()
    timeline.note(f"replica b started again (pid {b.pid})")
    await timeline.until(2 * seconds / 3)
    timeline.note("PostgreSQL restarts (stop -m fast)")
    await asyncio.to_thread(built.cluster.stop, "fast")
    await asyncio.sleep(2.0)
    await asyncio.to_thread(built.cluster.start)
    timeline.note("PostgreSQL started again")
    await timeline.until(seconds)
    return restarted


@dataclass
class Resources:
    rows: list[list[object]]
    failures: list[str]


def resources(
    vitals: Vitals, replicas: list[Replica], seconds: float, restarted: float
) -> Resources:
    """RSS, fds and connections per replica against their baseline after warm-up."""
    warm = warm_up(seconds)
    rows: list[list[object]] = []
    failures: list[str] = []
    for replica in replicas:
        since = warm if replica.name == "a" else restarted + warm
        window = vitals.of(replica.name, replica.pid, after=since)
        every = vitals.of(replica.name, after=warm)
        start, middle, end = (nearest(every, at) for at in (warm, seconds / 2, seconds))
        slope = slope_per_minute(window)
        base = window[0].fds if window else None
        last = window[-1].fds if window else None
        span = window[-1].at - window[0].at if window else 0.0
        judged = span >= SLOPE_MIN_WINDOW
        if slope is None:
            failures.append(f"replica {replica.name}: too few samples for a slope")
        elif judged and slope >= RSS_SLOPE_LIMIT:
            failures.append(
                f"replica {replica.name}: RSS grows {slope:.2f} MiB/min (limit {RSS_SLOPE_LIMIT})"
            )
        if base is not None and last is not None and last > base + FD_MARGIN:
            failures.append(f"replica {replica.name}: {last} fds open, baseline {base}")
        rows.append(
            [
                replica.name
                if replica.name == "a"
                else f"{replica.name} (killed; new pid at {restarted:.0f} s)",
                _mib(start),
                _mib(middle),
                _mib(end),
                "–" if slope is None else f"{slope:+.2f}" + ("" if judged else " (not judged)"),
                f"{since:.0f}–{seconds:.0f} s, {len(window)} samples",
                "–" if base is None else base,
                "–" if last is None else last,
            ]
        )
    return Resources(rows, failures)


def _mib(sample: Sample | None) -> str:
    return "–" if sample is None else f"{sample.rss_mib:.1f}"


def connections(vitals: Vitals, seconds: float) -> tuple[str, list[str]]:
    warm = warm_up(seconds)
    counted = [c for c in vitals.connections if c.at >= warm]
    if not counted:
        return "no connection counts", ["no connection counts"]
    base, end = counted[0], counted[-1]
    failures = []
    if end.pooled > base.pooled + CONNECTION_MARGIN:
        failures.append(f"{end.pooled} pooled connections at the end, baseline {base.pooled}")
    if end.listeners != 2:
        failures.append(f"{end.listeners} listener connections at the end, not 2")
    text = (
        f"database connections: pooled {base.pooled} at {base.at:.0f} s (baseline),"
        f" {end.pooled} at {end.at:.0f} s (at most {2 * POOL_SIZE});"
        f" listeners {base.listeners} -> {end.listeners}"
    )
    return text, failures


async def soak(seconds: float, keep_logs: bool) -> int:
    ledger = Ledger()
    async with stack(keep_logs=keep_logs) as built:
        timeline = Timeline()
        counter = itertools.count()

        def next_script() -> Script:
            return misbehaving(next(counter))

        clients = [
            Client(unique(f"soak{i}"), built.replicas, ledger, built.model, first=i)
            for i in range(WORKERS)
        ]
        workers = [
            Worker(c, next_script, random.Random(i), pause=0.05) for i, c in enumerate(clients)
        ]
        watchers = [
            Watcher(Client(c.owner, built.replicas, ledger, built.model, first=i + 1))
            for i, c in enumerate(clients)
        ]
        vitals = Vitals(built, timeline.began)
        load = Running([*(w.run for w in workers), *(w.run for w in watchers), vitals.run])
        try:
            restarted = await faults_on_schedule(built, seconds, timeline)
            await vitals.sample()  # the end, under load
        finally:
            await load.finish()
        timeline.note("load stopped")
        verdict = await verify(built, ledger)
        timeline.note("checked")
        used = resources(vitals, built.replicas, seconds, restarted)
        connected, connection_failures = connections(vitals, seconds)
        watched = (sum(w.events for w in watchers), sum(w.out_of_order for w in watchers))
        deadlocks = built.cluster.log().count("deadlock detected")
        failures = _failures(ledger, verdict) + used.failures + connection_failures
        if watched[1]:
            failures.append(f"{watched[1]} Watch events out of order or repeated")
        built.keep_logs |= bool(failures)
    _print(seconds, timeline, ledger, verdict, used, connected, watched, deadlocks, failures)
    return 1 if failures else 0


def _failures(ledger: Ledger, verdict: Verdict) -> list[str]:
    failures = [*verdict.lost, *verdict.duplicated, *ledger.forbidden]
    if verdict.leases_left:
        failures.append(f"{verdict.leases_left} leases outlived {LEASE_SECONDS:g} s")
    if verdict.unsettled:
        failures.append(f"{verdict.unsettled} replies still IN_PROGRESS once settled")
    return failures


def _print(
    seconds: float,
    timeline: Timeline,
    ledger: Ledger,
    verdict: Verdict,
    used: Resources,
    connected: str,
    watched: tuple[int, int],
    deadlocks: int,
    failures: list[str],
) -> None:
    print(f"\nsoak: {seconds:.0f} s, 2 replicas, {WORKERS} clients and {WORKERS} Watches")
    print("\n".join(timeline.events))
    codes = [[code, count] for code, count in ledger.codes.most_common()]
    print(table(["code", "calls"], codes))
    reasons = [[key, count] for key, count in sorted(ledger.reasons.items())]
    print(table(["failed calls: method code reason", "calls"], reasons))
    summary: list[list[object]] = [
        ["acknowledged writes", ledger.acknowledged],
        ["lost", len(verdict.lost)],
        ["duplicated", len(verdict.duplicated)],
        [f"leases left after {LEASE_SECONDS:g} s", verdict.leases_left],
        ["replies left IN_PROGRESS (settled by Get)", f"{verdict.unsettled} ({verdict.settled})"],
        ["INTERNAL or UNKNOWN", sum(ledger.codes[code] for code in FORBIDDEN)],
        ["Watch events (out of order)", f"{watched[0]} ({watched[1]})"],
        ["deadlocks PostgreSQL detected (not judged)", deadlocks],
    ]
    print(table(["check", "value"], summary))
    columns = [
        "replica",
        "RSS start MiB",
        "middle",
        "end",
        "slope MiB/min",
        "slope over",
        "fds base",
        "fds end",
    ]
    print(table(columns, used.rows))
    print(
        "b's RSS at start and middle are its first process's; its end, slope and fds"
        " its second's (from its restart plus the warm-up)."
    )
    print(connected)
    print("\n".join(f"FAILED: {failure}" for failure in failures[:30]) or "soak: every check met")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m faults.soak", description=__doc__)
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    args = parser.parse_args()
    duration = float(os.environ.get("SOAK_SECONDS", DEFAULT_SECONDS))
    sys.exit(uvloop.run(soak(duration, args.keep_logs)))
