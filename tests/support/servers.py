"""More in-process servers on the test database, for settings the shared one lacks."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import grpc
from sessions_client import pb_grpc
from sessions_server.app import build_server
from sessions_server.config import Settings

if TYPE_CHECKING:
    from tests.conftest import Stub


@asynccontextmanager
async def server_with(
    settings: Settings, database_url: str, **changes: Any
) -> AsyncIterator["Stub"]:
    """A stub of a server like the shared one but for `changes` to its settings."""
    app = await build_server(settings.model_copy(update=changes), database_url)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield pb_grpc.SessionServiceStub(channel)
    finally:
        await app.stop(None)
