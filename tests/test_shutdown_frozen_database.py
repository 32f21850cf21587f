"""SIGTERM while PostgreSQL is frozen: the server exits within its grace period
plus a fixed margin whatever the database does, and its exit code says whether
everything was written back (0) or some of it was abandoned (1)."""

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from sessions_client import pb, pb_grpc
from sessions_server import database

from tests.conftest import Owner
from tests.support.cluster import Cluster, throwaway_cluster
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.processes import ServerProcess, start_server
from tests.support.sending import new_session, read

GRACE = 1.0
MARGIN = 6.0
"""What the server may take past its grace: its own margin, the process's exit."""


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    with throwaway_cluster() as cluster:
        await asyncio.to_thread(database.migrate, cluster.url)
        yield cluster


@pytest.fixture
async def server(
    cluster: Cluster, endpoints_file: Path, tmp_path: Path
) -> AsyncIterator[ServerProcess]:
    env = {
        "SESSIONS_SHUTDOWN_GRACE": str(GRACE),
        "SESSIONS_ENDPOINTS_FILE": str(endpoints_file),
        "SESSIONS_DB_POOL_TIMEOUT": "1",
    }
    process = await start_server(cluster.url, tmp_path, env)
    yield process
    process.stop()


async def test_an_idle_server_exits_at_once_on_a_frozen_database(
    server: ServerProcess, cluster: Cluster, owner: Owner
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = pb_grpc.SessionServiceStub(channel)
        await new_session(stub, owner)
    with cluster.frozen():
        server.signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = await server.wait_exit(GRACE + MARGIN + 5)
        took = time.monotonic() - signalled

    assert code == 0, server.log()
    assert took < GRACE + MARGIN, took


async def test_a_send_in_flight_on_a_frozen_database_is_abandoned_in_time(
    server: ServerProcess, cluster: Cluster, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = pb_grpc.SessionServiceStub(channel)
        session = await new_session(stub, owner)
        call = stub.Send(
            pb.SendRequest(session_id=session.id, content=Script(tokens=500, delay=0.02).say()),
            metadata=owner.md,
        )
        await read(call)
        with cluster.frozen():
            server.signal(signal.SIGTERM)
            signalled = time.monotonic()
            code = await server.wait_exit(GRACE + MARGIN + 30)
            took = time.monotonic() - signalled
        call.cancel()

    assert code == 1, server.log()
    assert took < GRACE + MARGIN, took
    assert "abandoned" in server.log()
