"""The Prometheus endpoint counts RPCs by method and code and times them."""

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from sessions_client import pb, pb_grpc
from sessions_server.app import App, build_server
from sessions_server.config import Settings

from tests.conftest import Owner
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.processes import free_port
from tests.support.sending import new_session, send


@pytest.fixture
async def metered_server(settings: Settings, database_url: str) -> AsyncIterator[App]:
    app = await build_server(
        settings.model_copy(update={"metrics_port": free_port()}), database_url
    )
    yield app
    await app.stop(None)


async def _scrape(app: App) -> str:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"http://127.0.0.1:{app.metrics_port}/metrics")).text


async def test_metrics_count_rpcs_by_method_and_code(metered_server: App, owner: Owner) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{metered_server.port}") as channel:
        stub = pb_grpc.SessionServiceStub(channel)
        await stub.Create(pb.CreateRequest(name="metered", model="m"), metadata=owner.md)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Get(pb.GetRequest(session_id="nope"), metadata=owner.md)

    text = await _scrape(metered_server)
    assert 'sessions_rpcs_total{code="OK",method="Create"} 1.0' in text
    assert 'sessions_rpcs_total{code="NOT_FOUND",method="Get"} 1.0' in text
    assert 'sessions_rpc_seconds_count{method="Create"} 1.0' in text
    assert "sessions_streams_in_flight" in text


async def test_metrics_time_the_first_token_and_count_tokens_of_each_endpoint(
    metered_server: App, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{metered_server.port}") as channel:
        stub = pb_grpc.SessionServiceStub(channel)
        session = await new_session(stub, owner)
        await send(stub, owner, session.id, Script(tokens=7, usage=False).say("count me"))

    text = await _scrape(metered_server)
    assert 'sessions_upstream_first_token_seconds_count{endpoint="fake"} 1.0' in text
    assert 'sessions_upstream_tokens_total{endpoint="fake"} 7.0' in text
    assert 'sessions_rpcs_total{code="OK",method="Send"} 1.0' in text
    assert 'sessions_streams_in_flight{method="Send"} 0.0' in text
