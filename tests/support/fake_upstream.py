"""A model endpoint for tests and benchmarks: a real HTTP server on 127.0.0.1 that
speaks the OpenAI streaming protocol, does what each request tells it, and records
what it received.

A request is steered by a directive at the end of its last user message, which
`Script.say` writes:

    hello
    fake:{"tokens": 5, "delay": 0.01, "statuses": [{"status": 429, "retry_after": 0}]}

Without one it streams `Script()`'s defaults. Attempts are counted per `tag`, so
"429 then 200" is `statuses=[{"status": 429}]`: the first attempt is refused, the
retry streams. Each `Received` notes whether the client hung up before the reply
was over. Run it alone with `python -m tests.support.fake_upstream` (prints its URL).
"""

import asyncio
import dataclasses
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aiohttp import web

MARKER = "\nfake:"
MODEL = "fake-model"
"""The model the test registry's `fake` endpoint offers."""
API_KEY_ENV = "SESSIONS_TEST_FAKE_API_KEY"
API_KEY = "sk-test-fake-key-0123456789"
"""The key the `fake` endpoint is configured to send, from `API_KEY_ENV`."""
SECRET = "sk-fake-upstream-body-detail"
"""Every error body the fake sends contains this: it must never reach a caller."""

_FOREVER = 3600.0


@dataclass(frozen=True)
class Script:
    """What the fake does with one request (and its retries, which share the tag)."""

    tokens: int = 3
    delay: float = 0.0
    """Seconds before each token."""
    usage: bool = True
    ping: bool = False
    """A `: ping` comment before each token."""
    statuses: list[dict[str, Any]] = field(default_factory=list)
    """Attempt i answers `statuses[i]` (`status`, optional `retry_after`) with an
    error body; later attempts stream."""
    hang: bool = False
    """Never answer, not even headers."""
    stall_after: int | None = None
    """Go silent after this many tokens."""
    cut_after: int | None = None
    """Drop the connection after this many tokens."""
    malformed_after: int | None = None
    """Send a chunk that is not JSON after this many tokens."""
    nul_after: int | None = None
    """Send a piece of text holding U+0000 after this many tokens."""
    set_cookie: str | None = None
    """A `Set-Cookie` header on the reply."""
    end_lag: float = 0.0
    """Seconds between `[DONE]` and the end of the body."""
    tag: str = field(default_factory=lambda: uuid.uuid4().hex)

    def say(self, text: str = "hello") -> str:
        """A message content that carries this script."""
        return f"{text}{MARKER}{json.dumps(dataclasses.asdict(self))}"

    @property
    def reply(self) -> str:
        """The text of the whole reply."""
        return "".join(token(i) for i in range(self.tokens))

    def prefix(self, count: int) -> str:
        return "".join(token(i) for i in range(count))


def token(index: int) -> str:
    return f"tok{index} "


@dataclass
class Received:
    """One request as the fake saw it."""

    script: Script
    body: dict[str, Any]
    headers: dict[str, str]
    client_port: int
    """The client's end of the connection: equal ports, one connection reused."""
    at: float = field(default_factory=time.monotonic)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    """The client hung up before the reply was over."""
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    """The whole reply was sent."""


@cache
def _token_chunk(index: int) -> bytes:
    return _event({"choices": [{"index": 0, "delta": {"content": token(index)}}]})


def _event(payload: dict[str, Any]) -> bytes:
    chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", **payload}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


NUL_TEXT = "nul\u0000byte"
_NUL_CHUNK = _event({"choices": [{"index": 0, "delta": {"content": NUL_TEXT}}]})
_ROLE = _event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
_FINISH = _event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})


def _script_of(body: dict[str, Any]) -> Script:
    users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
    last = users[-1] if users else ""
    _, marker, directive = last.rpartition(MARKER)
    return Script(**json.loads(directive)) if marker else Script()


class FakeUpstream:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL, as an endpoint registry names it."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        # Cancelling the handler when its client leaves is how a hang-up is noticed.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def received(self, script: Script) -> list[Received]:
        """The requests (attempts) made with this script, oldest first."""
        return [r for r in self.requests if r.script.tag == script.tag]

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        script = _script_of(body)
        attempt = len(self.received(script))
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert request.transport is not None
        record = Received(script, body, headers, request.transport.get_extra_info("peername")[1])
        self.requests.append(record)
        try:
            return await self._answer(request, record, attempt)
        except (asyncio.CancelledError, ConnectionResetError):
            record.disconnected.set()
            raise

    async def _answer(
        self, request: web.Request, record: Received, attempt: int
    ) -> web.StreamResponse:
        script = record.script
        if attempt < len(script.statuses):
            refusal = script.statuses[attempt]
            headers = {}
            if "retry_after" in refusal:
                headers["Retry-After"] = str(refusal["retry_after"])
            return web.Response(
                status=refusal["status"],
                text=json.dumps({"error": {"message": f"refused: {SECRET}"}}),
                content_type="application/json",
                headers=headers,
            )
        if script.hang:
            await asyncio.sleep(_FOREVER)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        if script.set_cookie is not None:
            response.headers["Set-Cookie"] = script.set_cookie
        await response.prepare(request)
        await response.write(_ROLE)
        for index in range(script.tokens):
            if index == script.stall_after:
                await asyncio.sleep(_FOREVER)
            if index == script.cut_after:
                assert request.transport is not None
                request.transport.abort()
                return response
            if index == script.malformed_after:
                await response.write(b'data: {"choices": [{"delta": \n\n')
            if index == script.nul_after:
                await response.write(_NUL_CHUNK)
            if script.delay:
                await asyncio.sleep(script.delay)
            if script.ping:
                await response.write(b": ping\n\n")
            await response.write(_token_chunk(index))
        await response.write(_FINISH)
        if script.usage:
            prompt = sum(len(m["content"].split()) for m in record.body["messages"])
            counts = {"prompt_tokens": prompt, "completion_tokens": script.tokens}
            await response.write(_event({"choices": [], "usage": counts}))
        await response.write(b"data: [DONE]\n\n")
        if script.end_lag:
            await asyncio.sleep(script.end_lag)
        await response.write_eof()
        record.answered.set()
        return response


async def _serve(port: int) -> None:
    fake = FakeUpstream()
    await fake.start(port)
    print(fake.url, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    import uvloop

    uvloop.run(_serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
