"""Helpers for calling Send and reading what it left behind."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import grpc
from sessions_client import pb

from tests.support.fake_upstream import MODEL

if TYPE_CHECKING:
    from tests.conftest import Owner, Stub

Metadata = tuple[tuple[str, str], ...]


async def new_session(
    stub: "Stub", owner: "Owner", *, system_prompt: str = "", model: str = MODEL
) -> pb.Session:
    created = await stub.Create(
        pb.CreateRequest(name="chat", model=model, system_prompt=system_prompt),
        metadata=owner.md,
    )
    return created.session


async def send(
    stub: "Stub",
    owner: "Owner",
    session_id: str,
    content: str,
    *,
    request_id: str = "",
    grpc_timeout: float | None = None,
) -> list[pb.SendResponse]:
    """Every response of one Send, which must end OK."""
    call = stub.Send(
        pb.SendRequest(session_id=session_id, content=content, request_id=request_id),
        metadata=owner.md,
        timeout=grpc_timeout,
    )
    return [response async for response in call]


async def send_until_error(
    stub: "Stub",
    owner: "Owner",
    session_id: str,
    content: str,
    *,
    request_id: str = "",
    grpc_timeout: float | None = None,
) -> tuple[list[pb.SendResponse], grpc.aio.AioRpcError]:
    """The responses of one Send that must end in an error, and the error."""
    call = stub.Send(
        pb.SendRequest(session_id=session_id, content=content, request_id=request_id),
        metadata=owner.md,
        timeout=grpc_timeout,
    )
    return await until_error(call)


async def until_error(
    call: "grpc.aio.UnaryStreamCall[pb.SendRequest, pb.SendResponse]",
) -> tuple[list[pb.SendResponse], grpc.aio.AioRpcError]:
    """The responses of a call that must end in an error, and the error."""
    responses: list[pb.SendResponse] = []
    try:
        async for response in call:
            responses.append(response)
    except grpc.aio.AioRpcError as error:
        return responses, error
    raise AssertionError(f"the call ended OK after {len(responses)} responses")


def kinds(responses: Sequence[pb.SendResponse]) -> list[str]:
    return [str(r.WhichOneof("event")) for r in responses]


def streamed_text(responses: Sequence[pb.SendResponse]) -> str:
    return "".join(r.delta.text for r in responses if r.WhichOneof("event") == "delta")


async def messages(stub: "Stub", owner: "Owner", session_id: str) -> list[pb.Message]:
    got = await stub.Get(
        pb.GetRequest(session_id=session_id, messages_limit=1000), metadata=owner.md
    )
    return list(got.messages)


async def ended(stub: "Stub", owner: "Owner", session_id: str, count: int = 2) -> bool:
    """Whether the session holds `count` messages, none of them still IN_PROGRESS."""
    stored = await messages(stub, owner, session_id)
    in_progress = any(m.status == pb.MESSAGE_STATUS_IN_PROGRESS for m in stored)
    return len(stored) == count and not in_progress


async def eventually(
    condition: Callable[[], Awaitable[bool]], seconds: float = 5.0, interval: float = 0.02
) -> None:
    """Polls `condition` until it holds; fails the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {seconds} s")
        await asyncio.sleep(interval)


async def lease_free(stub: "Stub", owner: "Owner", session_id: str) -> bool:
    """Whether no Send holds the session: a truncate that keeps everything is refused
    SESSION_BUSY exactly while one does."""
    try:
        await stub.Manage(
            pb.ManageRequest(session_id=session_id, truncate=pb.Truncate(keep_last=1000)),
            metadata=owner.md,
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.ABORTED:
            return False
        raise
    return True


async def read(
    call: "grpc.aio.UnaryStreamCall[pb.SendRequest, pb.SendResponse]",
) -> pb.SendResponse:
    """The next response of a call being read with `read()`; fails at the end."""
    response = await call.read()
    assert isinstance(response, pb.SendResponse), "the call ended"
    return response


async def read_rest(
    call: "grpc.aio.UnaryStreamCall[pb.SendRequest, pb.SendResponse]",
) -> list[pb.SendResponse]:
    """The remaining responses of a call being read with `read()`."""
    rest: list[pb.SendResponse] = []
    while isinstance(response := await call.read(), pb.SendResponse):
        rest.append(response)
    return rest
