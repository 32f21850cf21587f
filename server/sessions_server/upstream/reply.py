"""A reply being received: read in the background, handed out as it arrives.

The text that arrives while the previous piece is still being delivered to the
caller is handed out together. An idle caller sees every piece as the endpoint
sent it; a busy server sends fewer, larger pieces instead of falling behind (each
gRPC message costs a write of its own).
"""

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from types import TracebackType

from sessions_server.errors import UpstreamUnavailable
from sessions_server.models import Usage

Piece = str | Usage


class Reply:
    """Use as `async with`: leaving closes the request to the endpoint."""

    def __init__(self, pieces: AsyncGenerator[Piece, None]) -> None:
        self.usage: Usage | None = None
        """The endpoint's token counts, once the reply is over (None if it sent none)."""
        self._pieces = pieces
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
        try:
            async with aclosing(self._pieces):
                async for piece in self._pieces:
                    if isinstance(piece, Usage):
                        self.usage = piece
                    else:
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
