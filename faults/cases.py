"""The fault cases of `python -m faults`, each a fault under load.

A case runs its load and its fault, notes what it saw (`Outcome.notes`) and what
broke one of its own rules (`Outcome.failures`: a replica that took too long to
exit, a call refused for a wrong reason); the checks every case shares (nothing
acknowledged lost, nothing stored twice, no lease left, no INTERNAL or UNKNOWN)
run after it, in `faults.checks`.
"""

import asyncio
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from sessions_client import pb

from faults.ledger import Ledger, SendRecord
from faults.load import Client, Running, Worker, steady_script, unique
from faults.stack import APPLICATION_NAMES, SHUTDOWN_GRACE, Stack
from tests.support.fake_upstream import Script

EXIT_MARGIN = 5.0
"""Seconds past SESSIONS_SHUTDOWN_GRACE a replica may take to exit on SIGTERM."""
WORKERS = 4


@dataclass
class Outcome:
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


Case = Callable[[Stack, Ledger, Outcome], Awaitable[None]]


async def under_load(
    stack: Stack,
    ledger: Ledger,
    outcome: Outcome,
    fault: Callable[[], Awaitable[None]],
    before: float = 2.0,
    after: float = 3.0,
) -> None:
    """The fault, `before` seconds into a mixed load of `WORKERS` clients, which
    goes on `after` seconds past it and must see calls succeed again."""
    rng = random.Random(len(ledger.owners))
    workers = [
        Worker(
            Client(unique(f"w{i}"), stack.replicas, ledger, stack.model, i),
            lambda: steady_script(rng),
            random.Random(i),
        )
        for i in range(WORKERS)
    ]
    load = Running([worker.run for worker in workers])
    try:
        await asyncio.sleep(before)
        await fault()
        recovered = ledger.codes["OK"]
        await asyncio.sleep(after)
    finally:
        await load.finish()
    if ledger.codes["OK"] == recovered:
        outcome.failures.append(f"no call succeeded in the {after:.0f} s after the fault")


async def database_crash(stack: Stack, ledger: Ledger, outcome: Outcome) -> None:
    """`pg_ctl stop -m immediate` under load; 0.5 s later the server is up but
    refuses every connection for 2 s, as during a long crash recovery ("the
    database system is not accepting connections", SQLSTATE 57P03); then it
    starts for real (its own crash recovery)."""

    async def crash() -> None:
        began = time.monotonic()
        await asyncio.to_thread(stack.cluster.stop, "immediate")
        await asyncio.sleep(0.5)
        await asyncio.to_thread(stack.cluster.start, refusing=True)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(stack.cluster.stop, "fast")
        await asyncio.to_thread(stack.cluster.start)
        outcome.notes.append(f"database unavailable for {time.monotonic() - began:.1f} s")

    await under_load(stack, ledger, outcome, crash, after=4.0)


async def backends_terminated(stack: Stack, ledger: Ledger, outcome: Outcome) -> None:
    """`pg_terminate_backend` of every connection of the service, five times."""
    terminated = 0

    async def terminate() -> None:
        nonlocal terminated
        for _ in range(5):
            async with stack.admin() as admin:
                terminated += await admin.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                    " FROM pg_stat_activity WHERE application_name = ANY($1)",
                    list(APPLICATION_NAMES),
                )
            await asyncio.sleep(0.7)

    await under_load(stack, ledger, outcome, terminate)
    outcome.notes.append(f"{terminated} backends terminated")


async def _long_sends(
    stack: Stack, ledger: Ledger, on: int, count: int
) -> tuple[list[asyncio.Task[SendRecord]], list[SendRecord]]:
    """`count` Sends of long replies on replica `on`, once each has started
    (retried elsewhere when they fail, as the load's are)."""
    clients = [
        Client(unique(f"long{i}"), stack.replicas, ledger, stack.model) for i in range(count)
    ]
    sessions = [await client.create() for client in clients]
    script = Script(tokens=100, delay=0.03)
    tasks = [
        asyncio.create_task(client.send(session, script, prefer=on))
        for client, session in zip(clients, sessions, strict=True)
        if session is not None
    ]
    owners = {client.owner for client in clients}
    deadline = time.monotonic() + 5
    while True:
        records = [record for record in ledger.sends if record.owner in owners]
        started = len(records) == len(tasks) and all(record.started for record in records)
        if started or time.monotonic() > deadline:
            return tasks, records
        await asyncio.sleep(0.05)


async def replica_killed(stack: Stack, ledger: Ledger, outcome: Outcome) -> None:
    """SIGKILL of replica a with Sends streaming on it; b serves meanwhile; a
    starts again on its port."""
    a = stack.replicas[0]

    async def kill() -> None:
        tasks, records = await _long_sends(stack, ledger, 0, 4)
        streaming = sum(r.started for r in records)
        a.process.kill()
        served = ledger.codes["OK"]
        await asyncio.sleep(1.5)
        if ledger.codes["OK"] == served:
            outcome.failures.append("no call succeeded while replica a was down")
        await stack.restart(a)
        await asyncio.gather(*tasks)
        replayed = sum(r.completed is not None for r in records)
        outcome.notes.append(
            f"a killed with {streaming} Sends streaming; {replayed} of them retried to an end"
        )

    await under_load(stack, ledger, outcome, kill, after=2.0)


async def frozen_database_sigterm(stack: Stack, ledger: Ledger, outcome: Outcome) -> None:
    """SIGTERM to replica a while every PostgreSQL process is stopped (SIGSTOP)
    and Sends stream on a: it must exit within its grace plus `EXIT_MARGIN`."""
    a = stack.replicas[0]
    limit = SHUTDOWN_GRACE + EXIT_MARGIN

    async def freeze() -> None:
        tasks, records = await _long_sends(stack, ledger, 0, 3)
        streaming = sum(r.started for r in records)
        with stack.cluster.frozen():
            a.process.signal(signal.SIGTERM)
            signalled = time.monotonic()
            try:
                code: int | None = await a.process.wait_exit(limit + 5)
            except TimeoutError:
                code = None
            took = time.monotonic() - signalled
        if code is None:
            outcome.failures.append(f"a did not exit within {limit + 5:.0f} s of SIGTERM")
            a.process.kill()
        elif took > limit:
            outcome.failures.append(f"a exited {took:.1f} s after SIGTERM (limit {limit:.0f} s)")
        outcome.notes.append(
            f"a exited with code {code} {took:.1f} s after SIGTERM, {streaming} Sends streaming"
        )
        await stack.restart(a)
        await asyncio.gather(*tasks)

    await under_load(stack, ledger, outcome, freeze)


async def stalled_commit(stack: Stack, ledger: Ledger, outcome: Outcome) -> None:
    """Writes that wait: every session of the load row-locked by an admin
    transaction for 3 s (statements time out), then every commit held for 6 s
    (`synchronous_standby_names` naming a standby that does not exist: a commit
    is durable but not acknowledged until the setting is cleared)."""

    async def stall() -> None:
        async with stack.admin() as admin, admin.transaction():
            locked = await admin.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM sessions WHERE owner = ANY($1)"
                " FOR UPDATE) AS rows",
                sorted(ledger.owners),
            )
            await asyncio.sleep(3.0)
        outcome.notes.append(f"{locked} session rows locked for 3 s")
        await asyncio.sleep(1.0)
        await _standby_names(stack, "'faults_absent_standby'")
        try:
            # Calls whose deadline passes while their commit waits: stored, not
            # acknowledged, then retried with the same request_id.
            probes = [asyncio.create_task(_impatient(stack, ledger)) for _ in range(3)]
            await asyncio.sleep(6.0)
        finally:
            await _standby_names(stack, "DEFAULT")
        await asyncio.gather(*probes)
        outcome.notes.append("commits held for 6 s")

    await under_load(stack, ledger, outcome, stall)


async def _impatient(stack: Stack, ledger: Ledger) -> None:
    """A Create and a Send, each call with a deadline of 1 s, retried."""
    client = Client(unique("impatient"), stack.replicas, ledger, stack.model, timeout=1.0)
    client.send_timeout = 1.0
    if (session := await client.create()) is not None:
        await client.send(session, Script())


async def _standby_names(stack: Stack, value: str) -> None:
    async with stack.admin() as admin:
        await admin.execute(f"ALTER SYSTEM SET synchronous_standby_names = {value}")
        await admin.execute("SELECT pg_reload_conf()")


RACES = 25
RACE_SCRIPT = Script(tokens=40, delay=0.02)


async def cancel_races(stack: Stack, ledger: Ledger, outcome: Outcome) -> None:
    """Four owners, each racing a Send against a Cancel (from the other replica),
    a client's cancel 0-50 ms in, or an Attach and a Cancel from the other replica
    on a detached Send, `RACES` times; then each session must take a Send."""
    clients = [Client(unique(f"racer{i}"), stack.replicas, ledger, stack.model) for i in range(4)]

    async def racer(index: int, client: Client) -> None:
        session = await client.create()
        if session is None:
            outcome.failures.append(f"{client.owner}: no session")
            return
        rng = random.Random(index)
        for race in range(RACES):
            here, there = race % 2, (race + 1) % 2
            await RACERS[(race + index) % len(RACERS)](client, session, here, there, rng)
        last = await client.send(session, Script())
        if last.completed is None:
            outcome.failures.append(f"{client.owner}: the session took no Send after the races")

    await asyncio.gather(*(racer(i, client) for i, client in enumerate(clients)))
    if too_many := sum(n for key, n in ledger.reasons.items() if "TOO_MANY_SENDS" in key):
        outcome.failures.append(f"{too_many} Sends refused TOO_MANY_SENDS (one Send per owner)")
    outcome.notes.append(f"{RACES * len(clients)} races")


Race = Callable[[Client, str, int, int, random.Random], Awaitable[None]]
"""A race on a session of the client's, from replica `here` (an index) and
replica `there`."""


async def _started(
    client: Client, record: SendRecord, here: int, detach: bool = False
) -> "grpc.aio.UnaryStreamCall[pb.SendRequest, pb.SendResponse] | None":
    """A Send on replica `here` once its `started` arrived (a session still busy
    with the last race's reply is tried again); None when it failed otherwise."""
    for _ in range(30):
        call = client.open_send(client.stub(here), record, detach)
        try:
            response = await call.read()
        except grpc.aio.AioRpcError as error:
            if client.ledger.failed("Send", error) != "SESSION_BUSY":
                return None
            await asyncio.sleep(0.1)
            continue
        if isinstance(response, pb.SendResponse):
            client.note(record, response)
            return call
        return None
    return None


async def _finish(client: Client, method: str, read: Awaitable[None]) -> None:
    try:
        await read
    except grpc.aio.AioRpcError as error:
        client.ledger.failed(method, error)
    else:
        client.ledger.ok(method)


async def cancel_once_started(
    client: Client, session: str, here: int, there: int, rng: random.Random
) -> None:
    record = client.new_send(session, RACE_SCRIPT)
    call = await _started(client, record, here)
    if call is None:
        return
    await asyncio.sleep(rng.uniform(0, 0.3))
    await client.cancel(session, prefer=there)
    await _finish(client, "Send", client.read_send(call, record))


async def client_cancel(
    client: Client, session: str, here: int, there: int, rng: random.Random
) -> None:
    record = client.new_send(session, RACE_SCRIPT)
    call = client.open_send(client.stub(here), record)
    reading = asyncio.ensure_future(client.read_send(call, record))
    await asyncio.sleep(rng.uniform(0, 0.05))
    call.cancel()
    (result,) = await asyncio.gather(reading, return_exceptions=True)
    if isinstance(result, grpc.aio.AioRpcError) and result.code() != grpc.StatusCode.CANCELLED:
        client.ledger.failed("Send", result)
    elif result is None:
        client.ledger.ok("Send")
    else:
        client.ledger.cancelled_by_client("Send")


async def attach_and_cancel_elsewhere(
    client: Client, session: str, here: int, there: int, rng: random.Random
) -> None:
    record = client.new_send(session, RACE_SCRIPT)
    call = await _started(client, record, here, detach=True)
    if call is None:
        return
    call.cancel()  # the caller leaves; the detached reply goes on
    client.ledger.cancelled_by_client("Send")
    request = pb.AttachRequest(session_id=session, reply_seq=record.reply_seq)
    attach = client.stub(there).Attach(request, metadata=client.md, timeout=20)
    attached = SendRecord(client.owner, session, record.content, record.request_id)
    reading = asyncio.ensure_future(_finish(client, "Attach", client.read_send(attach, attached)))
    await asyncio.sleep(rng.uniform(0, 0.3))
    await client.cancel(session, prefer=there)
    await reading
    if attached.completed is not None:
        record.completed = attached.completed


async def send_and_cancel_at_once(
    client: Client, session: str, here: int, there: int, rng: random.Random
) -> None:
    record = client.new_send(session, RACE_SCRIPT)
    await asyncio.gather(
        _finish(
            client, "Send", client.read_send(client.open_send(client.stub(here), record), record)
        ),
        client.cancel(session, prefer=there),
    )


RACERS: list[Race] = [
    cancel_once_started,
    client_cancel,
    attach_and_cancel_elsewhere,
    send_and_cancel_at_once,
]

CASES: dict[str, Case] = {
    "database crash": database_crash,
    "backends terminated": backends_terminated,
    "replica killed": replica_killed,
    "frozen db + SIGTERM": frozen_database_sigterm,
    "stalled commit": stalled_commit,
    "cancel races": cancel_races,
}
