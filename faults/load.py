"""The load a fault happens under: clients that call any replica and retry as a
careful client does, each call recorded in a `Ledger`.

A `Client` is one owner's caller. It tries the replicas in turn and retries
UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED and RESOURCE_EXHAUSTED with a short
backoff, on the next replica, with the same `request_id` (Create and Send), so a
retry must never store anything twice. A `Worker` drives one client through a
mixed load (Create, streaming Send, Get, List, Manage) on sessions of its own,
so that its Sends never race each other. A `Watcher` keeps one Watch open for
an owner, re-opened after the last event it received whenever it ends.
"""

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from sessions_client import pb

from faults.ledger import Ledger, ReplyRecord, SendRecord
from faults.stack import Replica, Stub
from tests.support.fake_upstream import Script

T = TypeVar("T")

UNARY_TIMEOUT = 5.0
SEND_TIMEOUT = 20.0
ATTEMPTS = 6
RETRIED = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)

SendCall = grpc.aio.UnaryStreamCall[pb.SendRequest, pb.SendResponse]


def backoff(attempt: int) -> float:
    return float(min(1.0, 0.1 * 2**attempt))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Client:
    """One owner's calls to the replicas, retried and recorded."""

    def __init__(
        self,
        owner: str,
        replicas: Sequence[Replica],
        ledger: Ledger,
        model: str,
        first: int = 0,
        timeout: float = UNARY_TIMEOUT,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.owner = owner
        self.timeout = timeout
        """The deadline of each unary call, seconds."""
        self.send_timeout = send_timeout
        self.replicas = replicas
        self.ledger = ledger
        self.model = model
        self.md = (("x-owner", owner), ("x-actor", "user"))
        self._next = first
        ledger.owners.add(owner)

    def stub(self, prefer: int | None = None) -> Stub:
        """The next replica's stub in turn, or replica `prefer`."""
        if prefer is None:
            prefer = self._next
            self._next += 1
        return self.replicas[prefer % len(self.replicas)].stub

    async def call(
        self, method: str, invoke: Callable[[Stub], Awaitable[T]], prefer: int | None = None
    ) -> T | grpc.aio.AioRpcError:
        """`invoke(stub)` until it succeeds or fails for good; the last error
        otherwise."""
        for attempt in range(ATTEMPTS):
            stub = self.stub(None if prefer is None else prefer + attempt)
            try:
                result = await invoke(stub)
            except grpc.aio.AioRpcError as error:
                self.ledger.failed(method, error)
                if error.code() not in RETRIED or attempt == ATTEMPTS - 1:
                    return error
                await asyncio.sleep(backoff(attempt))
            else:
                self.ledger.ok(method)
                return result
        raise AssertionError("unreachable")

    async def create(self) -> str | None:
        # A unique name, so that a Create stored twice shows as two rows.
        request = pb.CreateRequest(
            name=unique("session"), model=self.model, request_id=unique("create")
        )
        created = await self.call(
            "Create", lambda stub: stub.Create(request, metadata=self.md, timeout=self.timeout)
        )
        if isinstance(created, grpc.aio.AioRpcError):
            return None
        self.ledger.sessions[created.session.id] = self.owner
        return str(created.session.id)

    def new_send(self, session_id: str, script: Script) -> SendRecord:
        record = SendRecord(self.owner, session_id, script.say(unique("message")), unique("send"))
        self.ledger.sends.append(record)
        return record

    def open_send(self, stub: Stub, record: SendRecord, detach: bool = False) -> SendCall:
        request = pb.SendRequest(
            session_id=record.session_id,
            content=record.content,
            request_id=record.request_id,
            detach=detach,
        )
        return stub.Send(request, metadata=self.md, timeout=self.send_timeout)

    @staticmethod
    def note(record: SendRecord, response: pb.SendResponse) -> None:
        """Notes in the record what one response of its Send acknowledged."""
        kind = response.WhichOneof("event")
        if kind == "started":
            record.started = True
            record.reply_seq = response.started.reply_seq
        elif kind == "completed":
            message = response.completed.assistant_message
            record.completed = (message.seq, message.status, message.content)

    async def read_send(
        self, call: "grpc.aio.UnaryStreamCall[Any, pb.SendResponse]", record: SendRecord
    ) -> None:
        """Reads a Send to its end, noting what it acknowledged; raises its error."""
        # read() rather than iteration: a caller may have read `started` already.
        while isinstance(response := await call.read(), pb.SendResponse):
            self.note(record, response)

    async def send(self, session_id: str, script: Script, prefer: int | None = None) -> SendRecord:
        """A Send read to its end, retried with the same request_id."""
        record = self.new_send(session_id, script)

        async def attempt(stub: Stub) -> None:
            await self.read_send(self.open_send(stub, record), record)

        await self.call("Send", attempt, prefer)
        return record

    async def cancel(self, session_id: str, prefer: int | None = None) -> None:
        request = pb.CancelRequest(session_id=session_id)
        cancelled = await self.call(
            "Cancel",
            lambda stub: stub.Cancel(request, metadata=self.md, timeout=self.timeout),
            prefer,
        )
        if not isinstance(cancelled, grpc.aio.AioRpcError):
            reply = cancelled.assistant_message
            self.ledger.replies.append(
                ReplyRecord(self.owner, session_id, reply.seq, reply.status, reply.content)
            )

    async def get(self, session_id: str) -> None:
        request = pb.GetRequest(session_id=session_id, messages_limit=50)
        await self.call(
            "Get", lambda stub: stub.Get(request, metadata=self.md, timeout=self.timeout)
        )

    async def list(self) -> None:
        request = pb.ListRequest(page_size=20, archived=pb.ARCHIVED_FILTER_INCLUDE)
        await self.call(
            "List", lambda stub: stub.List(request, metadata=self.md, timeout=self.timeout)
        )

    async def manage(self, request: pb.ManageRequest) -> pb.ManageResponse | None:
        managed = await self.call(
            "Manage", lambda stub: stub.Manage(request, metadata=self.md, timeout=self.timeout)
        )
        return None if isinstance(managed, grpc.aio.AioRpcError) else managed

    async def fork_and_delete(self, session_id: str) -> None:
        forked = await self.manage(pb.ManageRequest(session_id=session_id, fork=pb.Fork()))
        if forked is None:
            return
        fork_id = forked.session.id
        self.ledger.sessions[fork_id] = self.owner
        request = pb.ManageRequest(session_id=fork_id, delete=pb.Delete())
        deleted = await self.call(
            "Manage", lambda stub: stub.Manage(request, metadata=self.md, timeout=self.timeout)
        )
        if not isinstance(deleted, grpc.aio.AioRpcError):
            self.ledger.deleted.add(fork_id)
        elif deleted.code() == grpc.StatusCode.NOT_FOUND:
            self.ledger.deleted.add(fork_id)  # a retry after a delete whose answer was lost
        else:
            self.ledger.unknown.add(fork_id)


def _action(rng: random.Random, session_id: str) -> pb.ManageRequest:
    choice = rng.randrange(5)
    if choice == 0:
        return pb.ManageRequest(session_id=session_id, rename=pb.Rename(name=unique("renamed")))
    if choice == 1:
        return pb.ManageRequest(session_id=session_id, star=pb.Star())
    if choice == 2:
        return pb.ManageRequest(session_id=session_id, unstar=pb.Unstar())
    if choice == 3:
        return pb.ManageRequest(session_id=session_id, archive=pb.Archive())
    return pb.ManageRequest(session_id=session_id, unarchive=pb.Unarchive())


def steady_script(rng: random.Random) -> Script:
    return Script(tokens=rng.randrange(3, 16), delay=rng.choice((0.0, 0.01, 0.02)))


@dataclass
class Worker:
    """One client's mixed load on sessions of its own."""

    client: Client
    scripts: Callable[[], Script]
    rng: random.Random
    pause: float = 0.02
    """Seconds between two operations."""
    keep: int = 3
    """Sessions in use at once."""
    retire_after: int = 20
    """Messages after which a session is left for a new one (a bounded context)."""
    sessions: dict[str, int] = field(default_factory=dict)
    """The sessions in use and their message counts."""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.step()
            await asyncio.sleep(self.pause)

    async def step(self) -> None:
        if len(self.sessions) < self.keep:
            if (created := await self.client.create()) is not None:
                self.sessions[created] = 0
            return
        session_id = self.rng.choice(list(self.sessions))
        roll = self.rng.random()
        if roll < 0.45:
            await self.client.send(session_id, self.scripts())
            self.sessions[session_id] += 2
            if self.sessions[session_id] >= self.retire_after:
                del self.sessions[session_id]
        elif roll < 0.65:
            await self.client.get(session_id)
        elif roll < 0.8:
            await self.client.list()
        elif roll < 0.95:
            await self.client.manage(_action(self.rng, session_id))
        else:
            await self.client.fork_and_delete(session_id)


@dataclass
class Watcher:
    """One Watch for an owner, kept open: re-opened after the last event received
    (on the next replica) whenever it ends."""

    client: Client
    events: int = 0
    out_of_order: int = 0
    """Events whose id was not above the last one's (a repeat or a reordering)."""
    last_event_id: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                request = pb.WatchRequest(after_event_id=self.last_event_id)
                call = self.client.stub().Watch(request, metadata=self.client.md)
                reading = asyncio.ensure_future(self._read(call))
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():  # the harness ends it
                    call.cancel()
                    await asyncio.gather(reading, return_exceptions=True)
                    return
                try:
                    reading.result()
                except grpc.aio.AioRpcError as error:
                    self.client.ledger.failed("Watch", error)
                else:
                    self.client.ledger.ok("Watch")
                await asyncio.sleep(0.2)
        finally:
            stopping.cancel()

    async def _read(
        self, call: "grpc.aio.UnaryStreamCall[pb.WatchRequest, pb.WatchResponse]"
    ) -> None:
        async for event in call:
            if event.event_id <= self.last_event_id:
                self.out_of_order += 1
            self.last_event_id = max(self.last_event_id, event.event_id)
            self.events += 1


Task = Callable[[asyncio.Event], Awaitable[None]]


class Running:
    """Tasks of a load, each `task(stop)`, running until `finish`."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.stop = asyncio.Event()
        self._all = asyncio.gather(*(task(self.stop) for task in tasks))

    async def finish(self, seconds: float = 60.0) -> None:
        """Asks the tasks to stop and waits for their calls in flight to end
        (cancelled after `seconds`)."""
        self.stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._all), seconds)
        except TimeoutError:
            self._all.cancel()
            await asyncio.gather(self._all, return_exceptions=True)


def elapsed(since: float) -> float:
    return time.monotonic() - since
