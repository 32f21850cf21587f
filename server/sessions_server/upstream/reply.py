"""A reply being received: read in the background, handed out as it arrives.

The text that arrives while the previous piece is still being delivered to the
caller is handed out together. An idle caller sees every piece as the endpoint
sent it; a busy server sends fewer, larger pieces instead of falling behind (each
gRPC message costs a write of its own).
"""

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from types import TracebackType
from typing import Protocol

from sessions_server.errors import UpstreamUnavailable
from sessions_server.models import Usage

Piece = str | Usage


class ReplyObserver(Protocol):
    """Told how each reply went (the server's metrics)."""

    def first_token(self, endpoint: str, seconds: float) -> None: ...

    def tokens(self, endpoint: str, count: int) -> None: ...


class Reply:
    """Use as `async with`: leaving closes the request to the endpoint."""

    def __init__(
        self,
        pieces: AsyncGenerator[Piece, None],
        endpoint: str = "",
        observer: ReplyObserver | None = None,
    ) -> None:
        self.usage: Usage | None = None
        """The endpoint's token counts, once the reply is over (None if it sent none)."""
        self._pieces = pieces
        self._endpoint = endpoint
        self._observer = observer
        self._arrived: list[str] = []
        self._failure: Exception | None = None
        self._over = False
        self._signal = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "Reply":
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._reader is not None
        self._reader.cancel()
        await asyncio.wait([self._reader])

    async def next(self) -> str | None:
        """The text that arrived since the last call, waiting until some has; None
        when the reply is over. The endpoint's failure is raised once the text
        that came before it has been handed out."""
        while not self._arrived and not self._over:
            self._signal.clear()
            await self._signal.wait()
        if self._arrived:
            text = "".join(self._arrived)
            self._arrived.clear()
            return text
        if self._failure is not None:
            raise self._failure
        return None

    async def _read(self) -> None:
        asked, texts = time.perf_counter(), 0
        try:
            async with aclosing(self._pieces):
                async for piece in self._pieces:
                    if isinstance(piece, Usage):
                        self.usage = piece
                    else:
                        if not texts and self._observer is not None:
                            self._observer.first_token(self._endpoint, time.perf_counter() - asked)
                        texts += 1
                        self._arrived.append(piece)
                    self._signal.set()
        except Exception as failure:
            self._failure = failure
        except asyncio.CancelledError:
            # Whoever still waits must not take a reply cut short for a whole one.
            self._failure = UpstreamUnavailable("the reply was interrupted")
            raise
        finally:
            self._over = True
            self._signal.set()
            if self._observer is not None and texts:
                # The endpoint's own count when it gave one, else one per piece.
                counted = self.usage.completion_tokens if self.usage else 0
                self._observer.tokens(self._endpoint, counted or texts)
