"""The client's channel: UNAVAILABLE retried on safe calls only, TLS, lazy opening."""

import grpc
import pytest
from sessions_client import SessionsClient, Unavailable

from tests.support.scripted_service import scripted_server, self_signed_localhost


async def test_unavailable_read_is_retried_until_it_succeeds() -> None:
    async with (
        scripted_server() as running,
        SessionsClient(f"127.0.0.1:{running.port}") as client,
    ):
        got = await client.get("unavailable-2")
        assert got.session.id == "unavailable-2"
        assert running.service.attempts["Get", "unavailable-2"] == 3


async def test_unavailable_manage_is_not_retried() -> None:
    async with (
        scripted_server() as running,
        SessionsClient(f"127.0.0.1:{running.port}") as client,
    ):
        with pytest.raises(Unavailable) as raised:
            await client.fork("unavailable-1")
        assert raised.value.reason == "UNAVAILABLE"
        assert running.service.attempts["Manage", "unavailable-1"] == 1


async def test_tls_with_the_servers_certificate_connects() -> None:
    tls = self_signed_localhost()
    async with scripted_server(tls) as running:
        credentials = grpc.ssl_channel_credentials(root_certificates=tls.certificate)
        async with SessionsClient(f"localhost:{running.port}", tls=credentials) as client:
            assert (await client.get("over-tls")).session.id == "over-tls"


async def test_tls_with_system_roots_refuses_a_self_signed_server() -> None:
    async with (
        scripted_server(self_signed_localhost()) as running,
        SessionsClient(f"localhost:{running.port}", tls=True, timeout=5) as client,
    ):
        with pytest.raises(Unavailable):
            await client.get("over-tls")


def test_client_is_built_outside_an_event_loop() -> None:
    client = SessionsClient("127.0.0.1:1", owner="alice")
    assert client.address == "127.0.0.1:1"


async def test_unavailable_create_is_retried_with_the_same_request_id() -> None:
    async with (
        scripted_server() as running,
        SessionsClient(f"127.0.0.1:{running.port}") as client,
    ):
        session = await client.create("unavailable-1", "demo", request_id="create-once")
        assert session.id == "create-once"
        assert running.service.attempts["Create", "unavailable-1"] == 2


async def test_send_refused_before_its_first_event_is_retried() -> None:
    async with (
        scripted_server() as running,
        SessionsClient(f"127.0.0.1:{running.port}") as client,
    ):
        reply = await client.send_text("unavailable-1", "hello")
        assert reply.content == "hello"
        assert running.service.attempts["Send", "unavailable-1"] == 2


async def test_watch_resumes_after_the_given_event() -> None:
    async with (
        scripted_server() as running,
        SessionsClient(f"127.0.0.1:{running.port}") as client,
    ):
        events = [event.event_id async for event in client.watch(after_event_id=41)]
        assert events == [42]
