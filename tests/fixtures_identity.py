"""Fixtures of the identity and isolation tests.

`admin` reads the database past row-level security (the test login must be a
superuser or BYPASSRLS, as the CI's `postgres` is); `issuer` mints RS256 tokens
that `jwt_app`, a server in token mode on the shared test database, accepts;
`tls` holds freshly made certificates.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import pytest
from sessions_client import pb_grpc
from sessions_server import database
from sessions_server.app import App, build_server
from sessions_server.config import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stub
from tests.support.certificates import Authority, Issued
from tests.support.database import asyncpg_url
from tests.support.tokens import AUDIENCE, ISSUER, Issuer, public_pem, rsa_key


@pytest.fixture(scope="session")
async def admin(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_url(database_url))
    exempt = await connection.fetchval(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )
    assert exempt, "the test database login must bypass row-level security to inspect rows"
    yield connection
    await connection.close()


@pytest.fixture(scope="session")
def issuer() -> Issuer:
    return Issuer(rsa_key(), "RS256")


@pytest.fixture(scope="session")
def issuer_key_file(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwt") / "issuer.pem"
    path.write_bytes(public_pem(issuer.key))
    return path


@pytest.fixture(scope="session")
def jwt_settings(settings: Settings, issuer_key_file: Path) -> Settings:
    """The test server's settings, in token mode."""
    return settings.model_copy(
        update={
            "auth": "jwt",
            "jwt_public_key_file": issuer_key_file,
            "jwt_audience": AUDIENCE,
            "jwt_issuer": ISSUER,
        }
    )


@pytest.fixture(scope="session")
async def jwt_app(jwt_settings: Settings, database_url: str) -> AsyncIterator[App]:
    app = await build_server(jwt_settings, database_url)
    yield app
    await app.stop(None)


@pytest.fixture(scope="session")
async def jwt_channel(jwt_app: App) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{jwt_app.port}") as channel:
        yield channel


@pytest.fixture(scope="session")
def jwt_stub(jwt_channel: grpc.aio.Channel) -> Stub:
    return pb_grpc.SessionServiceStub(jwt_channel)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server: tuple[Path, Path]
    client: Issued
    stranger: Issued
    """A client certificate from a CA the server does not trust."""

    def ca_pem(self) -> bytes:
        return self.ca.read_bytes()


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    folder = tmp_path_factory.mktemp("tls")
    authority = Authority("sessions test CA")
    ca = folder / "ca.crt"
    ca.write_bytes(authority.cert)
    return TlsFiles(
        ca=ca,
        server=authority.issue("localhost", server=True).write(folder, "server"),
        client=authority.issue("calling-service", server=False),
        stranger=Authority("someone else's CA").issue("stranger", server=False),
    )


@pytest.fixture(scope="session")
async def admin_engine(database_url: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = database.create_engine(database_url, settings.model_copy(update={"database_role": ""}))
    yield engine
    await engine.dispose()
