"""A reply being generated in this process: its text so far, the calls that
follow it, and how it ended.

One task reads the model endpoint and appends each piece of text; followers (the
Send that asked for the reply, Attach calls on this replica) read it from any
offset and are woken as pieces arrive. A follower holds no queue, only its place
in the list of pieces, so a slow one costs nothing but its own lag, and one that
joins late starts from whatever offset it asks for.

Offsets count Unicode code points of the reply, as Python's `len` of a `str`.
"""

import asyncio
import contextlib
import enum
import json
import logging
import uuid
from bisect import bisect_right
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from sessions_server.errors import ServiceError
from sessions_server.events import Subscription
from sessions_server.models import Message
from sessions_server.store.replies import REPLY_CHANNEL

log = logging.getLogger(__name__)

Key = tuple[str, uuid.UUID, int]
"""A reply: owner, session, seq."""


class StopReason(enum.Enum):
    """Why a reply was stopped before the endpoint finished it."""

    CALLER_LEFT = "caller left"
    """The caller of a Send without `detach` went away."""
    CANCELLED = "cancelled"
    """A Cancel asked for it, from any replica."""
    SHUTDOWN = "shutdown"
    """The server is shutting down and its grace period is over."""


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    end_offset: int
    """The reply's length once this piece is appended."""


class Generation:
    def __init__(self) -> None:
        self.length = 0
        self.stop_reason: StopReason | None = None
        self.stored: Message | None = None
        """The reply as stored at its end; None if it was not (removed, or lost)."""
        self.error: BaseException | None = None
        """Why the reply's Send fails, if it does."""
        self._pieces: list[Piece] = []
        self._wakes: set[asyncio.Event] = set()
        self._ended = asyncio.Event()
        self._reader: asyncio.Task[Any] | None = None
        self._done_reading = False

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def reading(self, task: asyncio.Task[Any] | None) -> None:
        """Names the task reading the endpoint, which `stop` cancels."""
        self._reader = task

    def done_reading(self) -> None:
        """The reading is over; the end is being stored, which nothing may
        interrupt: `stop` has no effect any more."""
        self._reader = None
        self._done_reading = True

    def append(self, text: str) -> None:
        self.length += len(text)
        self._pieces.append(Piece(text, self.length))
        self._wake_all()

    def since(self, index: int) -> tuple[str, int]:
        """The text of the pieces from `index` on, and the index after them."""
        return "".join(piece.text for piece in self._pieces[index:]), len(self._pieces)

    @property
    def text(self) -> str:
        return self.since(0)[0]

    def stop(self, reason: StopReason) -> None:
        """Stops the reading of the endpoint, now or as soon as it starts (the first
        reason given is kept). Once the reply is being stored, too late: no effect."""
        if self.stop_reason is not None or self._done_reading:
            return
        self.stop_reason = reason
        if self._reader is not None:
            self._reader.cancel()

    def end(self, stored: Message | None, error: BaseException | None) -> None:
        self.stored, self.error = stored, error
        self._ended.set()
        self._wake_all()

    async def wait_ended(self) -> None:
        await self._ended.wait()

    async def follow(self, after_offset: int) -> AsyncIterator[Piece]:
        """The text past `after_offset`, as it arrives, until the reply has ended:
        what arrived while the follower was busy comes as one piece."""
        wake = asyncio.Event()
        self._wakes.add(wake)
        try:
            index = bisect_right(self._pieces, after_offset, key=lambda piece: piece.end_offset)
            while True:
                if index < len(self._pieces):
                    text, end = self.since(index)[0], self.length
                    start = self._pieces[index].end_offset - len(self._pieces[index].text)
                    index = len(self._pieces)
                    yield Piece(text[max(0, after_offset - start) :], end)
                elif self.ended:
                    return
                else:
                    await wake.wait()
                    wake.clear()
        finally:
            self._wakes.discard(wake)

    def _wake_all(self) -> None:
        for wake in self._wakes:
            wake.set()


class Generations:
    """This process's replies being generated, by key, and the calls here waiting
    on replies generated elsewhere; hears `REPLY_CHANNEL` (on the events hub's
    connection).

    A notification about a reply wakes the calls here that wait on it; they read
    the store. A cancel stops the reply if this process generates it.
    """

    def __init__(self) -> None:
        self._local: dict[Key, Generation] = {}
        self._waiting: dict[Key, set[Subscription]] = {}
        self._ended: ServiceError | None = None

    def __iter__(self) -> Iterator[Generation]:
        return iter(list(self._local.values()))

    def get(self, key: Key) -> Generation | None:
        return self._local.get(key)

    @contextlib.contextmanager
    def generating(self, key: Key, generation: Generation) -> Iterator[None]:
        self._local[key] = generation
        try:
            yield
        finally:
            del self._local[key]

    @contextlib.contextmanager
    def waiting(self, key: Key) -> Iterator[Subscription]:
        """A wake-up for each change of the reply, for the duration of the block."""
        if self._ended is not None:
            raise self._ended
        subscription = Subscription(key[0])
        self._waiting.setdefault(key, set()).add(subscription)
        try:
            yield subscription
        finally:
            waiting = self._waiting[key]
            waiting.discard(subscription)
            if not waiting:
                del self._waiting[key]

    def end_waiting(self, error: ServiceError) -> None:
        """Ends every wait with `error` and refuses new ones (shutdown)."""
        self._ended = error
        for waiting in self._waiting.values():
            for subscription in waiting:
                subscription.end(error)

    def on_notification(self, payload: str) -> None:
        try:
            notice = json.loads(payload)
            key = (str(notice["owner"]), uuid.UUID(notice["session_id"]), int(notice["seq"]))
            kind = str(notice["kind"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed notification on %s", REPLY_CHANNEL)
            return
        if kind == "cancel":
            if (generation := self._local.get(key)) is not None:
                generation.stop(StopReason.CANCELLED)
            return
        for subscription in self._waiting.get(key, ()):
            subscription.resync()

    def resync(self) -> None:
        for waiting in self._waiting.values():
            for subscription in waiting:
                subscription.resync()
