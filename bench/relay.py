"""A bare grpc.aio relay: the floor for streaming model replies through Python gRPC.

It serves `SessionService/Send` alone: it posts the request's content to an
OpenAI-compatible endpoint and relays each SSE token as a `delta`, between a
`started` and a `completed`, with the service's HTTP stack (httpx over the same
transport, httpx-sse) but no storage, lease, authentication or timeouts. The
streaming benchmark drives it with the same load generator as the service.

    python -m bench.relay UPSTREAM_BASE_URL --port 50099 [--transport httpx]
"""

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import grpc
import httpx
import uvloop
from httpx_aiohttp import AiohttpTransport
from httpx_sse import EventSource
from sessions_client import pb

from bench.common import child_process
from tests.support.processes import free_port

Transport = Literal["aiohttp", "httpx"]
SERVICE = pb.DESCRIPTOR.services_by_name["SessionService"].full_name
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60)


class Relay:
    def __init__(self, upstream: str, client: httpx.AsyncClient) -> None:
        self._url = f"{upstream.rstrip('/')}/chat/completions"
        self._client = client

    async def send(
        self, request: pb.SendRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.SendResponse]:
        yield pb.SendResponse(started=pb.SendStarted())
        body = {
            "model": "relay",
            "messages": [{"role": "user", "content": request.content}],
            "stream": True,
        }
        async with self._client.stream("POST", self._url, json=body) as response:
            async for event in EventSource(response).aiter_sse():
                if event.data == "[DONE]":
                    break
                for choice in json.loads(event.data).get("choices") or ():
                    if text := choice.get("delta", {}).get("content"):
                        yield pb.SendResponse(delta=pb.TextDelta(text=text))
        yield pb.SendResponse(completed=pb.SendCompleted())


async def serve(upstream: str, port: int, transport: Transport) -> None:
    client = httpx.AsyncClient(
        transport=AiohttpTransport(limits=LIMITS)
        if transport == "aiohttp"
        else httpx.AsyncHTTPTransport(limits=LIMITS),
        timeout=None,
    )
    server = grpc.aio.server()
    send = grpc.unary_stream_rpc_method_handler(
        Relay(upstream, client).send,
        request_deserializer=pb.SendRequest.FromString,
        response_serializer=pb.SendResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {"Send": send})])
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


@dataclass(frozen=True)
class RelayProcess:
    address: str
    pid: int


@asynccontextmanager
async def relay_process(
    upstream: str, transport: Transport = "aiohttp"
) -> AsyncIterator[RelayProcess]:
    """The relay in its own process (on uvloop, like the service)."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    command = [sys.executable, "-m", "bench.relay", upstream, "--port", str(port)]
    async with grpc.aio.insecure_channel(address) as channel:

        async def ready() -> bool:
            try:
                await asyncio.wait_for(channel.channel_ready(), 0.5)
            except TimeoutError:
                return False
            return True

        async with child_process([*command, "--transport", transport], ready) as process:
            yield RelayProcess(address, process.pid)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    parser.add_argument("upstream", help="OpenAI-compatible base URL, such as http://…/v1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", choices=["aiohttp", "httpx"], default="aiohttp")
    args = parser.parse_args()
    uvloop.run(serve(args.upstream, args.port, args.transport))


if __name__ == "__main__":
    main()
