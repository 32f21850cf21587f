"""SIGTERM drains a replica: NOT_SERVING, watchers told to reconnect, exit 0 within
the grace period."""

import asyncio
import signal
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sessions_client import pb, pb_grpc

from tests.conftest import Owner
from tests.support.processes import start_server
from tests.support.rpc import reason
from tests.support.watching import Watcher

GRACE = 5.0


async def test_sigterm_turns_health_not_serving_ends_watchers_and_exits_0(
    database_url: str, tmp_path: Path, owner: Owner
) -> None:
    server = await start_server(database_url, tmp_path, {"SESSIONS_SHUTDOWN_GRACE": str(GRACE)})
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = pb_grpc.SessionServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="sessions.v1.SessionService")
            )
            assert (await health.read()).status == health_pb2.HealthCheckResponse.SERVING
            watcher = await Watcher.open(stub, owner.md)

            server.signal(signal.SIGTERM)
            signalled = time.monotonic()
            update = await asyncio.wait_for(health.read(), GRACE)
            assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
            error = await watcher.ended(within=1.0)
            assert reason(error) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
            assert time.monotonic() - signalled < 1.0
            # The health stream is still in flight, so the server is draining, not
            # gone: it refuses new calls.
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Create(pb.CreateRequest(name="late", model="m"), metadata=owner.md)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert server.process.poll() is None
            health.cancel()
            assert await server.wait_exit(GRACE) == 0
            assert time.monotonic() - signalled < GRACE
    finally:
        server.stop()
