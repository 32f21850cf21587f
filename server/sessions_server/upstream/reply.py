"""A reply being received, as the caller sees it: text pieces until it is over,
then the usage.

Entering asks the endpoint in a task of its own, which waits for the first text
(and makes the retries that may come before it) while the caller goes on; the
caller then reads the rest itself, with no task or queue between it and the
connection.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol

from sessions_server.models import Usage


class Stream(Protocol):
    """An endpoint's answer, opened and read up to its first text."""

    @property
    def usage(self) -> Usage | None:
        """The endpoint's token counts, once it sent them."""

    @property
    def texts(self) -> int:
        """How many pieces of text the endpoint has sent so far."""

    async def read(self) -> str | None:
        """The text that arrived next; None when the answer is over."""

    async def aclose(self) -> None: ...


class ReplyObserver(Protocol):
    """Told how each reply went (the server's metrics)."""

    def first_token(self, endpoint: str, seconds: float) -> None: ...

    def tokens(self, endpoint: str, count: int) -> None: ...


class Reply:
    """Use as `async with`: leaving closes the request to the endpoint."""

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[Stream]],
        endpoint: str = "",
        observer: ReplyObserver | None = None,
    ) -> None:
        self._open_stream = open_stream
        self._endpoint = endpoint
        self._observer = observer
        self._opening: asyncio.Task[Stream] | None = None
        self._stream: Stream | None = None

    @property
    def usage(self) -> Usage | None:
        """The endpoint's token counts, once the reply is over (None if it sent none)."""
        return None if self._stream is None else self._stream.usage

    async def __aenter__(self) -> "Reply":
        self._opening = asyncio.get_running_loop().create_task(self._open())
        # Let the opening run up to its first wait, by which time the request is on
        # its way: the endpoint starts on it while the caller does its own work.
        await asyncio.sleep(0)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        opening = self._opening
        assert opening is not None
        if not opening.done():
            opening.cancel()
            await asyncio.wait([opening])
        if self._stream is None and not opening.cancelled() and opening.exception() is None:
            self._stream = opening.result()
        if self._stream is not None:
            await self._stream.aclose()
            self._count_tokens(self._stream)

    async def next(self) -> str | None:
        """The text that arrived since the last call, waiting until some has; None
        when the reply is over. The endpoint's failure is raised once the text
        that came before it has been handed out."""
        stream = self._stream
        if stream is None:
            assert self._opening is not None, "a reply is read inside `async with`"
            stream = self._stream = await self._opening
        return await stream.read()

    async def _open(self) -> Stream:
        asked = time.perf_counter()
        stream = await self._open_stream()
        if self._observer is not None and stream.texts:
            self._observer.first_token(self._endpoint, time.perf_counter() - asked)
        return stream

    def _count_tokens(self, stream: Stream) -> None:
        if self._observer is not None and stream.texts:
            # The endpoint's own count when it gave one, else one per piece it sent.
            counted = stream.usage.completion_tokens if stream.usage else 0
            self._observer.tokens(self._endpoint, counted or stream.texts)
