"""A bare grpc.aio relay: the floor for streaming model replies through Python gRPC.

It serves `SessionService/Send` alone: it posts the request's content to an
OpenAI-compatible endpoint and relays the text of each SSE event as a `delta`,
between a `started` and a `completed`: what a bare relay does, one message per
upstream event (joining the events that arrive together is one of the service's
own levers, not the floor's). It reads with aiohttp directly and the service's SSE
decoder, and has no storage, lease, authentication or timeouts. The streaming
benchmark drives it with the same load generator as the service.

    python -m bench.relay UPSTREAM_BASE_URL --port 50099
"""

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc
import uvloop
from sessions_client import pb
from sessions_server.upstream.sse import Decoder

from bench.common import child_process
from tests.support.processes import free_port

SERVICE = pb.DESCRIPTOR.services_by_name["SessionService"].full_name


class Relay:
    def __init__(self, upstream: str, http: aiohttp.ClientSession) -> None:
        self._url = f"{upstream.rstrip('/')}/chat/completions"
        self._http = http

    async def send(
        self, request: pb.SendRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.SendResponse]:
        yield pb.SendResponse(started=pb.SendStarted())
        body = {
            "model": "relay",
            "messages": [{"role": "user", "content": request.content}],
            "stream": True,
        }
        decoder = Decoder()
        async with self._http.post(self._url, json=body) as response:
            async for chunk in response.content.iter_any():
                for data in decoder.feed(chunk):
                    if data == "[DONE]":
                        break
                    for choice in json.loads(data).get("choices") or ():
                        if text := choice.get("delta", {}).get("content"):
                            yield pb.SendResponse(delta=pb.TextDelta(text=text))
        yield pb.SendResponse(completed=pb.SendCompleted())


async def serve(upstream: str, port: int) -> None:
    connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=60)
    server = grpc.aio.server()
    async with aiohttp.ClientSession(connector=connector) as http:
        send = grpc.unary_stream_rpc_method_handler(
            Relay(upstream, http).send,
            request_deserializer=pb.SendRequest.FromString,
            response_serializer=pb.SendResponse.SerializeToString,
        )
        handlers = grpc.method_handlers_generic_handler(SERVICE, {"Send": send})
        server.add_generic_rpc_handlers([handlers])
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()


@dataclass(frozen=True)
class RelayProcess:
    address: str
    pid: int


@asynccontextmanager
async def relay_process(upstream: str) -> AsyncIterator[RelayProcess]:
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

        async with child_process(command, ready) as process:
            yield RelayProcess(address, process.pid)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    parser.add_argument("upstream", help="OpenAI-compatible base URL, such as http://…/v1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.upstream, args.port))


if __name__ == "__main__":
    main()
