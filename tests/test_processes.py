"""The server runs as its own process, serves, and stops on SIGTERM."""

import re
import signal
from pathlib import Path

import grpc
from sessions_client import pb, pb_grpc

from tests.conftest import Owner
from tests.support.processes import start_server


async def test_server_process_serves_and_stops_on_sigterm(
    database_url: str, tmp_path: Path, owner: Owner
) -> None:
    server = await start_server(database_url, tmp_path)
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = pb_grpc.SessionServiceStub(channel)
            created = await stub.Create(pb.CreateRequest(name="p", model="m"), metadata=owner.md)
            assert created.session.endpoint == "echo"
        server.signal(signal.SIGTERM)
        assert await server.wait_exit(20) == 0
    finally:
        server.stop()
    # What startup left alive is out of the collector's reach (short full collections).
    frozen = re.search(r"startup heap frozen: (\d+) objects", server.log())
    assert frozen is not None
    assert int(frozen[1]) > 10_000
