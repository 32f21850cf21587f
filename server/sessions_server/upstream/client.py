"""The client of every model endpoint: one pooled `httpx.AsyncClient`, timeouts,
and retries before the first token.

A reply streams pieces: `str` for text as it arrives, then at most one `Usage`;
`Reply` hands them out. Every wait is bounded by the earliest of: its own timeout (first
token, then idle gap), the total timeout, and the caller's deadline. A failure
raises an `UpstreamError`; closing the reply closes the upstream request, so the
model stops generating.
"""

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_sse import EventSource, SSEError

from sessions_server.endpoints import Endpoint
from sessions_server.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from sessions_server.models import Turn, Usage
from sessions_server.upstream import echo, openai, policy
from sessions_server.upstream.reply import Piece, Reply
from sessions_server.upstream.watchdog import Watchdog

log = logging.getLogger(__name__)

Transport = Literal["aiohttp", "httpx"]

# Connections stay open between Sends; many streams may run to one endpoint at once.
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60)


@dataclass(frozen=True)
class Timeouts:
    connect: float
    first_token: float
    idle: float
    total: float


class Upstream:
    """Streams replies from model endpoints; one per process, closed with it."""

    def __init__(self, timeouts: Timeouts, retry_delay: float, transport: Transport) -> None:
        self._timeouts = timeouts
        self._retry_delay = retry_delay
        self._client = httpx.AsyncClient(
            transport=(
                AiohttpTransport(limits=_LIMITS)
                if transport == "aiohttp"
                else httpx.AsyncHTTPTransport(limits=_LIMITS)
            ),
            # Only connecting is timed here; the other waits are timed per event below.
            timeout=httpx.Timeout(None, connect=timeouts.connect),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def reply(
        self,
        endpoint: Endpoint,
        model: str,
        system_prompt: str,
        turns: Sequence[Turn],
        deadline: float | None,
    ) -> Reply:
        """The model's reply to `turns`; `deadline` is the caller's, in loop time."""
        if endpoint.is_echo:
            return Reply(echo.reply(turns))
        request = self._client.build_request(
            "POST",
            f"{endpoint.url}/chat/completions",
            json=openai.request_body(model, system_prompt, turns, endpoint.params),
            headers={**endpoint.request_headers(), "Accept": "text/event-stream"},
        )
        return Reply(self._stream(request, endpoint.name, deadline))

    async def _stream(
        self, request: httpx.Request, endpoint: str, deadline: float | None
    ) -> AsyncGenerator[Piece, None]:
        loop = asyncio.get_running_loop()
        limit = loop.time() + self._timeouts.total
        if deadline is not None:
            limit = min(limit, deadline)
        retries = 0
        while True:
            emitted = False
            try:
                async with aclosing(self._attempt(request, limit)) as attempt:
                    async for piece in attempt:
                        emitted = True
                        yield piece
                return
            except policy.Retryable as failure:
                # After the first token a retry would repeat output: the failure stands.
                if emitted or retries >= policy.MAX_RETRIES:
                    raise failure.error from None
                pause = policy.backoff(retries, self._retry_delay, failure.retry_after)
                if loop.time() + pause >= limit:
                    raise failure.error from None
                retries += 1
                log.warning(
                    "endpoint %s: %s; retry %d in %.2f s",
                    endpoint,
                    failure.error.reason,
                    retries,
                    pause,
                )
                await asyncio.sleep(pause)

    async def _attempt(self, request: httpx.Request, limit: float) -> AsyncGenerator[Piece, None]:
        """One request. Raises `policy.Retryable` for what another attempt may cure."""
        loop = asyncio.get_running_loop()
        until = min(loop.time() + self._timeouts.first_token, limit)
        try:
            async with asyncio.timeout_at(until):
                response = await self._client.send(request, stream=True)
        except TimeoutError:
            raise policy.Retryable(UpstreamTimeout()) from None
        except httpx.TransportError:
            raise policy.Retryable(UpstreamUnavailable()) from None
        try:
            if not response.is_success:
                raise policy.failure(response)
            async with aclosing(self._pieces(response, until, limit)) as pieces:
                async for piece in pieces:
                    yield piece
        finally:
            await response.aclose()

    async def _pieces(
        self, response: httpx.Response, until: float, limit: float
    ) -> AsyncGenerator[Piece, None]:
        # One watchdog for the whole reply, moved on as events come. `Reply` reads in
        # a task of its own and never makes this generator wait at a `yield`, so the
        # deadline only ever passes while the endpoint is awaited.
        loop = asyncio.get_running_loop()
        events = EventSource(response).aiter_sse()
        usage: Usage | None = None
        began = finished = False
        try:
            with Watchdog(until) as watchdog:
                async for event in events:
                    if event.data == openai.DONE:
                        finished = True
                        break
                    if not event.data:  # an empty event, such as a keep-alive
                        continue
                    chunk = openai.parse_chunk(event.data)
                    finished = finished or chunk.finished
                    usage = chunk.usage or usage
                    began = began or bool(chunk.text)
                    if began:
                        watchdog.deadline = min(loop.time() + self._timeouts.idle, limit)
                    if chunk.text:
                        yield chunk.text
        except TimeoutError:
            raise policy.Retryable(UpstreamTimeout()) from None
        except (httpx.TransportError, SSEError):
            raise policy.Retryable(UpstreamUnavailable()) from None
        except UpstreamError as error:
            raise policy.Retryable(error) from None
        finally:
            await events.aclose()
        if not finished:
            # The stream ended without [DONE] or a finish reason: it was cut short.
            raise policy.Retryable(UpstreamUnavailable())
        if usage is not None:
            yield usage
