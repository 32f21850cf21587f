"""With no SESSIONS_DATABASE_URL the service runs on its embedded PostgreSQL, whose
data folder (SESSIONS_DATA_DIR) keeps the sessions across restarts."""

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sessions_client import pb, pb_grpc

from tests.conftest import Owner
from tests.support.processes import ServerProcess, start_server


async def _migrate(env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sessions_server",
        "migrate",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output.decode(errors="replace")


async def _stop(server: ServerProcess) -> None:
    server.signal(signal.SIGTERM)
    assert await server.wait_exit(30) == 0, server.log()


@pytest.fixture
def data_dir() -> Iterator[str]:
    """A folder outside pytest's temporary tree: run as root, the embedded PostgreSQL
    runs as its own user and opens up the folders above its data, which a
    concurrent pytest run would close again on its own tree."""
    with tempfile.TemporaryDirectory(prefix="sessions-embedded-") as folder:
        yield folder


async def test_embedded_database_keeps_sessions_across_restarts(
    data_dir: str, tmp_path: Path, owner: Owner
) -> None:
    embedded = {"SESSIONS_DATA_DIR": data_dir}
    env = {k: v for k, v in os.environ.items() if k != "SESSIONS_DATABASE_URL"}
    await _migrate({**env, **embedded})

    first = await start_server(None, tmp_path, embedded)
    try:
        async with grpc.aio.insecure_channel(first.address) as channel:
            stub = pb_grpc.SessionServiceStub(channel)
            created = await stub.Create(
                pb.CreateRequest(name="survivor", model="demo", labels={"k": "v"}),
                metadata=owner.md,
            )
        await _stop(first)
    finally:
        first.stop()
    assert "embedded PostgreSQL in" in first.log()

    second = await start_server(None, tmp_path, embedded)
    try:
        async with grpc.aio.insecure_channel(second.address) as channel:
            stub = pb_grpc.SessionServiceStub(channel)
            got = await stub.Get(pb.GetRequest(session_id=created.session.id), metadata=owner.md)
            listed = await stub.List(pb.ListRequest(), metadata=owner.md)
        await _stop(second)
    finally:
        second.stop()
    assert got.session == created.session
    assert [s.id for s in listed.sessions] == [created.session.id]
