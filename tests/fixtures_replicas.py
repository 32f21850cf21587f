"""Two server processes on the test database: replicas A and B."""

import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from sessions_client import pb_grpc

from tests.conftest import Stub
from tests.support.processes import ServerProcess, start_server


@dataclass
class Replica:
    process: ServerProcess
    stub: Stub


@dataclass
class Replicas:
    a: Replica
    b: Replica


async def _connect(process: ServerProcess, channels: list[grpc.aio.Channel]) -> Replica:
    channel = grpc.aio.insecure_channel(process.address)
    channels.append(channel)
    return Replica(process, pb_grpc.SessionServiceStub(channel))


@pytest.fixture(scope="session")
async def replicas(
    database_url: str, endpoints_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Replicas]:
    """Replicas A and B with the test registry, shared by the tests that need two
    processes."""
    log_dir = tmp_path_factory.mktemp("replicas")
    env = {"SESSIONS_ENDPOINTS_FILE": str(endpoints_file)}
    processes: list[ServerProcess] = []
    channels: list[grpc.aio.Channel] = []
    try:
        for _ in range(2):
            processes.append(await start_server(database_url, log_dir, env))
        yield Replicas(*[await _connect(p, channels) for p in processes])
    finally:
        for channel in channels:
            await channel.close(None)
        for process in processes:  # both drain at once
            process.signal(signal.SIGTERM)
        for process in processes:
            process.stop()
