"""A Watch call read in the background, so a test can act and then look."""

import asyncio
import contextlib
from collections.abc import Sequence

import grpc
from sessions_client import pb

from tests.conftest import Stub

Metadata = Sequence[tuple[str, str]]


class Watcher:
    """Collects a Watch stream's events as they arrive; `error` once it ends."""

    def __init__(self, call: "grpc.aio.UnaryStreamCall[pb.WatchRequest, pb.WatchResponse]") -> None:
        self.call = call
        self._events: asyncio.Queue[pb.WatchResponse | None] = asyncio.Queue()
        self.error: grpc.aio.AioRpcError | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, stub: Stub, metadata: Metadata, after_event_id: int = 0) -> "Watcher":
        """A watch that is established: every event committed from now on reaches it."""
        call = stub.Watch(pb.WatchRequest(after_event_id=after_event_id), metadata=metadata)
        await call.initial_metadata()
        return cls(call)

    async def _read(self) -> None:
        try:
            async for event in self.call:
                self._events.put_nowait(event)
        except grpc.aio.AioRpcError as error:
            self.error = error
        self._events.put_nowait(None)

    async def next(self, within: float = 5.0) -> pb.WatchResponse:
        async with asyncio.timeout(within):
            event = await self._events.get()
        assert event is not None, f"the stream ended: {self.error}"
        return event

    async def take(self, count: int, within: float = 5.0) -> list[pb.WatchResponse]:
        return [await self.next(within) for _ in range(count)]

    def pending(self) -> int:
        """Events received and not yet taken."""
        return self._events.qsize()

    async def ended(self, within: float = 5.0) -> grpc.aio.AioRpcError:
        """The error that ended the stream (fails on an event or a clean end)."""
        async with asyncio.timeout(within):
            event = await self._events.get()
        assert event is None, f"expected the end of the stream, got {event}"
        assert self.error is not None, "the stream ended without an error"
        return self.error

    async def close(self) -> None:
        self.call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
