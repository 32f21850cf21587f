"""The real pieces every test talks to: PostgreSQL, the gRPC server, a client.

One database and one server per test run; each test gets its own owner, so tests
do not see each other's sessions and need no cleanup.
"""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from sessions_client import pb_grpc
from sessions_server.app import App, build_server
from sessions_server.config import Settings

from tests.support.database import fresh_database
from tests.support.fake_upstream import API_KEY_ENV, MODEL, FakeUpstream

# Every server a test starts (in process or as a process) reads this: the suite
# runs several servers at once against one PostgreSQL and its 100 connections.
os.environ.setdefault("SESSIONS_DB_POOL_SIZE", "4")

pytest_plugins = [
    "tests.fixtures_upstream",
    "tests.fixtures_replicas",
    "tests.fixtures_identity",
    "tests.fixtures_clients",
]

if TYPE_CHECKING:
    Stub = pb_grpc.SessionServiceAsyncStub
else:
    Stub = pb_grpc.SessionServiceStub


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def endpoints_file(tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream) -> Path:
    path = tmp_path_factory.mktemp("registry") / "endpoints.toml"
    path.write_text(
        f"""
[endpoints.team]
url = "http://127.0.0.1:9/v1"
models = ["team-model"]
owners = ["team-owner"]

[endpoints.fake]
url = "{fake_upstream.url}"
models = ["{MODEL}"]
api_key_env = "{API_KEY_ENV}"
headers = {{ "X-Team" = "core" }}
params = {{ temperature = 0.25 }}

[endpoints.fake-by-name]
url = "http://localhost:{fake_upstream.port}/v1"
"""
    )
    return path


@pytest.fixture(scope="session")
def settings(database_url: str, endpoints_file: Path) -> Settings:
    return Settings(
        database_url=database_url,
        listen="127.0.0.1:0",
        auth="insecure",
        endpoints_file=endpoints_file,
        shutdown_grace=1.0,
        upstream_retry_delay=0.02,
    )


@pytest.fixture(scope="session")
async def server(settings: Settings, database_url: str) -> AsyncIterator[App]:
    app = await build_server(settings, database_url)
    yield app
    await app.stop(None)


@pytest.fixture(scope="session")
async def channel(server: App) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.fixture(scope="session")
def stub(channel: grpc.aio.Channel) -> Stub:
    return pb_grpc.SessionServiceStub(channel)


@dataclass(frozen=True)
class Owner:
    """A caller identity for one test; `as_agent` is the same owner acting as an agent."""

    name: str

    @property
    def md(self) -> tuple[tuple[str, str], ...]:
        return (("x-owner", self.name), ("x-actor", "user"))

    @property
    def as_agent(self) -> tuple[tuple[str, str], ...]:
        return (("x-owner", self.name), ("x-actor", "agent"))


@pytest.fixture
def owner() -> Owner:
    return Owner(f"owner-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def other_owner() -> Owner:
    return Owner(f"other-{uuid.uuid4().hex[:10]}")
