"""The Prometheus endpoint counts RPCs by method and code and times them."""

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from sessions_client import pb, pb_grpc
from sessions_server.app import App, build_server
from sessions_server.config import Settings

from tests.conftest import Owner
from tests.support.processes import free_port


@pytest.fixture
async def metered_server(settings: Settings, database_url: str) -> AsyncIterator[App]:
    app = await build_server(
        settings.model_copy(update={"metrics_port": free_port()}), database_url
    )
    yield app
    await app.stop(None)


async def test_metrics_count_rpcs_by_method_and_code(metered_server: App, owner: Owner) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{metered_server.port}") as channel:
        stub = pb_grpc.SessionServiceStub(channel)
        await stub.Create(pb.CreateRequest(name="metered", model="m"), metadata=owner.md)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Get(pb.GetRequest(session_id="nope"), metadata=owner.md)

    async with httpx.AsyncClient() as http:
        scraped = await http.get(f"http://127.0.0.1:{metered_server.metrics_port}/metrics")
    text = scraped.text
    assert 'sessions_rpcs_total{code="OK",method="Create"} 1.0' in text
    assert 'sessions_rpcs_total{code="NOT_FOUND",method="Get"} 1.0' in text
    assert 'sessions_rpc_seconds_count{method="Create"} 1.0' in text
    assert "sessions_streams_in_flight" in text
