"""Fixtures for the published clients: a `SessionsClient` on the in-process server.

`client` calls as the test's owner acting as a user, `agent_client` as the same
owner acting as an agent; both share one channel for the whole run. `tool_ctx` is
the context the agent tools take, acting for the test's owner.
"""

from collections.abc import AsyncIterator

import pytest
from sessions_client import SessionsClient
from sessions_client.tools import ToolContext
from sessions_server.app import App

from tests.conftest import Owner


@pytest.fixture(scope="session")
async def shared_client(server: App) -> AsyncIterator[SessionsClient]:
    async with SessionsClient(f"127.0.0.1:{server.port}", timeout=20.0) as client:
        yield client


@pytest.fixture
def client(shared_client: SessionsClient, owner: Owner) -> SessionsClient:
    return shared_client.with_identity(owner=owner.name, actor="user")


@pytest.fixture
def agent_client(shared_client: SessionsClient, owner: Owner) -> SessionsClient:
    return shared_client.with_identity(owner=owner.name, actor="agent")


@pytest.fixture
def tool_ctx(shared_client: SessionsClient, owner: Owner) -> ToolContext:
    """The ctx an agent runtime hands the tools: the client and the owner acted for."""
    return {"client": shared_client, "principal": {"owner": owner.name}}
