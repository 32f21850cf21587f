"""TLS and mutual TLS on the listening port, with certificates made for the run.

Under TLS only a client that trusts the server's CA is served; under mTLS the
client must also present a certificate signed by the configured client CA.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from sessions_client import pb, pb_grpc
from sessions_server.app import App, build_server
from sessions_server.config import Settings

from tests.conftest import Owner, Stub
from tests.fixtures_identity import TlsFiles
from tests.support.certificates import Authority, Issued
from tests.support.tokens import AUDIENCE, ISSUER, Issuer

DEADLINE = 5.0


def tls_settings(tls: TlsFiles, *, mutual: bool) -> Settings:
    cert, key = tls.server
    return Settings(
        listen="127.0.0.1:0",
        auth="insecure",
        tls_cert_file=cert,
        tls_key_file=key,
        tls_client_ca_file=tls.ca if mutual else None,
    )


@pytest.fixture(scope="module")
async def tls_app(tls: TlsFiles, database_url: str) -> AsyncIterator[App]:
    app = await build_server(tls_settings(tls, mutual=False), database_url)
    yield app
    await app.stop(None)


@pytest.fixture(scope="module")
async def mtls_app(tls: TlsFiles, database_url: str) -> AsyncIterator[App]:
    app = await build_server(tls_settings(tls, mutual=True), database_url)
    yield app
    await app.stop(None)


def secure(app: App, root: bytes, client: Issued | None = None) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root,
        private_key=client.key if client else None,
        certificate_chain=client.cert if client else None,
    )
    return grpc.aio.secure_channel(f"localhost:{app.port}", credentials)


async def list_over(channel: grpc.aio.Channel, owner: Owner) -> pb.ListResponse:
    stub: Stub = pb_grpc.SessionServiceStub(channel)
    return await stub.List(pb.ListRequest(), metadata=owner.md, timeout=DEADLINE)


async def refused_over(channel: grpc.aio.Channel, owner: Owner) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await list_over(channel, owner)
    return raised.value.code()


async def test_tls_client_trusting_the_ca_is_served(
    tls_app: App, tls: TlsFiles, owner: Owner
) -> None:
    async with secure(tls_app, tls.ca_pem()) as channel:
        stub: Stub = pb_grpc.SessionServiceStub(channel)
        created = await stub.Create(pb.CreateRequest(name="over tls", model="m"), metadata=owner.md)
        listed = await list_over(channel, owner)
    assert [s.id for s in listed.sessions] == [created.session.id]


async def test_plaintext_client_is_refused_by_a_tls_port(tls_app: App, owner: Owner) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{tls_app.port}") as channel:
        assert await refused_over(channel, owner) is grpc.StatusCode.UNAVAILABLE


async def test_client_that_does_not_trust_the_server_refuses_it(tls_app: App, owner: Owner) -> None:
    async with secure(tls_app, Authority("unrelated CA").cert) as channel:
        assert await refused_over(channel, owner) is grpc.StatusCode.UNAVAILABLE


async def test_mtls_client_with_a_certificate_is_served(
    mtls_app: App, tls: TlsFiles, owner: Owner
) -> None:
    async with secure(mtls_app, tls.ca_pem(), tls.client) as channel:
        listed = await list_over(channel, owner)
    assert listed.total_size == 0


async def test_mtls_client_without_a_certificate_is_refused(
    mtls_app: App, tls: TlsFiles, owner: Owner
) -> None:
    async with secure(mtls_app, tls.ca_pem()) as channel:
        assert await refused_over(channel, owner) is grpc.StatusCode.UNAVAILABLE


async def test_mtls_client_with_a_certificate_of_another_ca_is_refused(
    mtls_app: App, tls: TlsFiles, owner: Owner
) -> None:
    async with secure(mtls_app, tls.ca_pem(), tls.stranger) as channel:
        assert await refused_over(channel, owner) is grpc.StatusCode.UNAVAILABLE


async def test_mtls_and_tokens_together(
    tls: TlsFiles, database_url: str, issuer: Issuer, issuer_key_file: Path, owner: Owner
) -> None:
    settings = tls_settings(tls, mutual=True).model_copy(
        update={
            "auth": "jwt",
            "jwt_public_key_file": issuer_key_file,
            "jwt_audience": AUDIENCE,
            "jwt_issuer": ISSUER,
        }
    )
    app = await build_server(settings, database_url)
    try:
        async with secure(app, tls.ca_pem(), tls.client) as channel:
            stub: Stub = pb_grpc.SessionServiceStub(channel)
            created = await stub.Create(
                pb.CreateRequest(name="both", model="m"), metadata=issuer.md(owner.name)
            )
            assert created.session.name == "both"
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.List(pb.ListRequest(), metadata=owner.md)
            assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        await app.stop(None)


@pytest.mark.parametrize("missing", ["key", "cert", "cert and key"])
async def test_incomplete_tls_configuration_refuses_to_start(
    missing: str, tls: TlsFiles, database_url: str
) -> None:
    cert, key = tls.server
    settings = Settings(
        listen="127.0.0.1:0",
        auth="insecure",
        tls_cert_file=None if "cert" in missing else cert,
        tls_key_file=None if "key" in missing else key,
        tls_client_ca_file=tls.ca,
    )
    with pytest.raises(ValueError, match="SESSIONS_TLS_"):
        await build_server(settings, database_url)
