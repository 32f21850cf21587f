"""Short forms of the calls most tests make, through the generated client."""

from collections.abc import Awaitable, Sequence
from typing import Any

import grpc
import pytest
from sessions_client import pb

from tests.conftest import Stub

Metadata = Sequence[tuple[str, str]]


async def failure(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The error a call ends with (fails the test when it succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def create(stub: Stub, md: Metadata, name: str = "session", **fields: Any) -> pb.Session:
    fields.setdefault("model", "demo")
    response = await stub.Create(pb.CreateRequest(name=name, **fields), metadata=md)
    return response.session


async def get(stub: Stub, md: Metadata, session_id: str, **fields: Any) -> pb.GetResponse:
    return await stub.Get(pb.GetRequest(session_id=session_id, **fields), metadata=md)


async def manage(stub: Stub, md: Metadata, session_id: str, **fields: Any) -> pb.ManageResponse:
    return await stub.Manage(pb.ManageRequest(session_id=session_id, **fields), metadata=md)


async def list_all(stub: Stub, md: Metadata, page_size: int = 1000, **fields: Any) -> list[str]:
    """Ids of every session List returns for these filters, following page tokens."""
    ids: list[str] = []
    token = ""
    while True:
        page = await stub.List(
            pb.ListRequest(page_size=page_size, page_token=token, **fields), metadata=md
        )
        ids.extend(s.id for s in page.sessions)
        token = page.next_page_token
        if not token:
            return ids
