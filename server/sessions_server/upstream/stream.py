"""An endpoint's streamed answer being read: the body's chunks, decoded and parsed
as each arrives, handed out as text.

All the events that arrived together are handed out as one piece of text: a
caller that keeps up sees each token as it came, a busy one fewer, larger pieces
(each gRPC message costs a write of its own). The body is read only when the
caller asks for more, so a slow caller slows the endpoint rather than piling its
text up in memory.
"""

import asyncio
from collections.abc import AsyncIterator

import httpx

from sessions_server.errors import UpstreamTimeout, UpstreamUnavailable
from sessions_server.models import Usage
from sessions_server.upstream import openai, sse
from sessions_server.upstream.watchdog import Watchdog

_BODY_END_GRACE = 1.0
"""Seconds the end of a body may lag its `[DONE]` before the connection is closed
rather than reused."""


class EventStream:
    """`begin` reads up to the first text (the caller times that); `read` hands it
    out, then reads on, each wait bounded by the idle time and `limit`.

    A body whose end lags its `[DONE]` is read to its end by a task added to
    `draining`, whose owner awaits it before closing the connections."""

    def __init__(
        self,
        response: httpx.Response,
        idle: float,
        limit: float,
        draining: set[asyncio.Task[None]],
    ) -> None:
        self._response = response
        self._draining = draining
        self._chunks: AsyncIterator[bytes] = response.aiter_raw()
        self._ended = False
        self._decoder = sse.Decoder()
        self._progress = openai.Progress()
        self._idle = idle
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._first: str | None = None
        self._watchdog: Watchdog | None = None
        self._over = False

    @property
    def usage(self) -> Usage | None:
        return self._progress.usage

    @property
    def texts(self) -> int:
        """How many of the endpoint's chunks carried text."""
        return self._progress.texts

    async def begin(self) -> None:
        self._first = await self._next()
        self._watchdog = Watchdog(min(self._loop.time() + self._idle, self._limit))

    async def read(self) -> str | None:
        """The text that arrived next; None when the reply is over."""
        if self._first is not None:
            text, self._first = self._first, None
            return text
        return await self._next(self._watchdog)

    async def aclose(self) -> None:
        """Gives the connection back once the whole body came, else closes it (the
        endpoint sees the client leave and stops generating)."""
        if self._watchdog is not None:
            self._watchdog.close()
        if self._over and not self._ended:
            # After [DONE] the body's last bytes are on their way: wait a moment for
            # them, in the background, so that the connection goes back to the pool
            # rather than closed.
            task = self._loop.create_task(self._drain())
            self._draining.add(task)
            task.add_done_callback(self._draining.discard)
            return
        await self._response.aclose()

    async def _drain(self) -> None:
        try:
            async with asyncio.timeout(_BODY_END_GRACE):
                while await anext(self._chunks, b""):
                    pass
        except (TimeoutError, httpx.TransportError, OSError):
            pass
        finally:
            await self._response.aclose()

    async def _next(self, watchdog: Watchdog | None = None) -> str | None:
        progress = self._progress
        while not self._over:
            if progress.failure is not None:
                raise progress.failure
            chunk = await self._receive(watchdog)
            if not chunk:
                if not progress.finished:
                    # The stream ended without [DONE] or a finish reason: it was cut short.
                    raise UpstreamUnavailable()
                self._over = True
                break
            payloads = self._decoder.feed(chunk)
            text = progress.take(payloads)
            self._over = progress.done
            if watchdog is not None and any(payloads):
                watchdog.deadline = min(self._loop.time() + self._idle, self._limit)
            if text:
                return text
        return None

    async def _receive(self, watchdog: Watchdog | None) -> bytes:
        """Whatever part of the body has arrived, waiting until some has; b"" at its end."""
        try:
            if watchdog is None:
                chunk = await anext(self._chunks, b"")
            else:
                with watchdog:
                    chunk = await anext(self._chunks, b"")
        except TimeoutError:
            raise UpstreamTimeout() from None
        except (httpx.TransportError, OSError):
            raise UpstreamUnavailable() from None
        self._ended = not chunk
        return chunk
