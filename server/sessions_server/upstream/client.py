"""The client of every model endpoint: one `httpx.AsyncClient` that builds the
requests, its pooled aiohttp transport (measured faster than httpx's own) that
sends them, timeouts, and retries before the first token.

A reply streams pieces of text, then tells its usage; `Reply` hands them out.
Every wait is bounded by the earliest of: its own timeout (first token, then idle
gap), the total timeout, and the caller's deadline. A failure raises an
`UpstreamError`; closing the reply closes the upstream request, so the model
stops generating.
"""

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from sessions_server.endpoints import Endpoint
from sessions_server.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from sessions_server.models import Turn
from sessions_server.upstream import echo, openai, policy
from sessions_server.upstream.reply import Reply, ReplyObserver, Stream
from sessions_server.upstream.stream import EventStream

log = logging.getLogger(__name__)

# Connections stay open between Sends; many streams may run to one endpoint at once.
_MAX_CONNECTIONS = 1000
_KEEPALIVE_SECONDS = 60.0


@dataclass(frozen=True)
class Timeouts:
    connect: float
    first_token: float
    idle: float
    total: float


@dataclass(frozen=True)
class _Request:
    endpoint: str
    url: httpx.URL
    body: bytes
    headers: Mapping[str, str]


class Upstream:
    """Streams replies from model endpoints; one per process, closed with it."""

    def __init__(
        self, timeouts: Timeouts, retry_delay: float, observer: ReplyObserver | None = None
    ) -> None:
        self._timeouts = timeouts
        self._retry_delay = retry_delay
        self._observer = observer
        self._draining: set[asyncio.Task[None]] = set()
        self._transport = _transport()
        self._client = httpx.AsyncClient(
            transport=self._transport,
            # Only connecting is timed here; the other waits are timed per attempt
            # and per read.
            timeout=httpx.Timeout(None, connect=timeouts.connect),
        )

    async def aclose(self) -> None:
        """Closes every connection, once the bodies still being read to their end
        (each for at most a second) are."""
        if self._draining:
            await asyncio.wait(set(self._draining))
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
            return Reply(partial(_echo, turns), endpoint.name, self._observer)
        request = _Request(
            endpoint.name,
            _completions_url(endpoint.url),
            json.dumps(openai.request_body(model, system_prompt, turns, endpoint.params)).encode(),
            {
                **endpoint.request_headers(),
                "Accept": "text/event-stream",
                "Content-Type": "application/json",
            },
        )
        return Reply(partial(self._open, request, deadline), endpoint.name, self._observer)

    async def _open(self, request: _Request, deadline: float | None) -> Stream:
        """The endpoint's answer, read up to its first text, retried until then."""
        loop = asyncio.get_running_loop()
        limit = loop.time() + self._timeouts.total
        if deadline is not None:
            limit = min(limit, deadline)
        retries = 0
        while True:
            try:
                return await self._attempt(request, limit)
            except policy.Retryable as failure:
                if retries >= policy.MAX_RETRIES:
                    raise failure.error from None
                pause = policy.backoff(retries, self._retry_delay, failure.retry_after)
                if loop.time() + pause >= limit:
                    raise failure.error from None
                retries += 1
                log.warning(
                    "endpoint %s: %s; retry %d in %.2f s",
                    request.endpoint,
                    failure.error.reason,
                    retries,
                    pause,
                )
                await asyncio.sleep(pause)

    async def _attempt(self, request: _Request, limit: float) -> EventStream:
        """One request, read up to its first text. Raises `policy.Retryable` for
        what another attempt may cure."""
        until = min(asyncio.get_running_loop().time() + self._timeouts.first_token, limit)
        try:
            async with asyncio.timeout_at(until):
                return await self._begin(request, limit)
        except TimeoutError:  # before OSError, of which it is one
            raise policy.Retryable(UpstreamTimeout()) from None
        except (httpx.TransportError, OSError):
            raise policy.Retryable(UpstreamUnavailable()) from None

    async def _begin(self, request: _Request, limit: float) -> EventStream:
        # The client builds the request; its transport sends it. The client's own
        # `send` would add steps for auth, redirects, cookies and event hooks, none
        # of which an endpoint call uses, at about a twentieth of a Send's CPU.
        response = await self._transport.handle_async_request(
            self._client.build_request(
                "POST", request.url, content=request.body, headers=request.headers
            )
        )
        try:
            if not response.is_success:
                raise policy.failure(response.status_code, response.headers)
            stream = EventStream(response, self._timeouts.idle, limit, self._draining)
            try:
                await stream.begin()
            except UpstreamError as error:
                raise policy.Retryable(error) from None
            return stream
        except BaseException:
            await response.aclose()
            raise


def _transport() -> AiohttpTransport:
    """httpx's aiohttp transport over a session that keeps no cookie. The transport
    serves every owner's Sends, and by default aiohttp's session has a jar, which
    would carry a cookie from an endpoint's answer to one owner onto the next
    owner's request to that host. No protocol spoken here needs cookies."""
    tls = httpx.create_ssl_context()

    def session() -> aiohttp.ClientSession:  # made on first use, inside the event loop
        connector = aiohttp.TCPConnector(
            limit=_MAX_CONNECTIONS, keepalive_timeout=_KEEPALIVE_SECONDS, ssl=tls
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(verify=tls, client=session)  # one TLS context, loaded once


@lru_cache(maxsize=256)
def _completions_url(base: str) -> httpx.URL:
    """An endpoint's chat completions URL, parsed once."""
    return httpx.URL(f"{base}/chat/completions")


async def _echo(turns: Sequence[Turn]) -> Stream:
    return echo.Words(turns)
