"""Stores a reply's text while it streams: what arrived since the last flush, at
most every `interval` seconds, one flush at a time.

A piece waits at most `interval` (plus a flush in flight) before it is stored, so
the store trails the stream by about one interval: what a process that dies
loses, and how far behind the stream an Attach on another replica runs. Each
flush appends one row (`store/replies.py`); the whole text is written once, when
the reply ends.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sessions_server.generation import Generation, StopReason
from sessions_server.store.leases import Hold

log = logging.getLogger(__name__)

Write = Callable[[int, str], Awaitable[Hold]]
"""Stores text starting at a code point offset."""


class Flusher:
    def __init__(self, generation: Generation, write: Write, interval: float) -> None:
        self._generation = generation
        self._write = write
        self._interval = interval
        self._index = 0
        """Pieces of the generation stored so far."""
        self._offset = 0
        """Code points stored so far."""
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None

    def due(self) -> None:
        """New text arrived: schedules a flush unless one is scheduled or running
        (that one takes the new text along, or schedules the next)."""
        if self._interval <= 0 or self._timer is not None or self._flushing is not None:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(max(loop.time(), self._last + self._interval), self._start)

    async def close(self) -> None:
        """Cancels the next flush and waits for the one running, if any: the reply's
        end is stored after it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await asyncio.wait([self._flushing])

    def _start(self) -> None:
        self._timer = None
        self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        text, index = self._generation.since(self._index)
        try:
            outcome = await self._write(self._offset, text)
        except Exception as error:  # the next flush tries again, the end stores all
            log.warning("storing a reply's text failed (%s)", error)
        else:
            self._index, self._offset = index, self._offset + len(text)
            if outcome is Hold.CANCELLED:
                self._generation.stop(StopReason.CANCELLED)
        finally:
            self._last = asyncio.get_running_loop().time()
            self._flushing = None
        if self._offset < self._generation.length:
            self.due()
