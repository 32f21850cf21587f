"""Helpers for Attach and detached Sends."""

from typing import TYPE_CHECKING

import grpc
from sessions_client import pb

if TYPE_CHECKING:
    from tests.conftest import Owner, Stub


async def attach(
    stub: "Stub", owner: "Owner", session_id: str, *, reply_seq: int = 0, after_offset: int = 0
) -> list[pb.SendResponse]:
    """Every response of one Attach, which must end OK."""
    call = stub.Attach(
        pb.AttachRequest(session_id=session_id, reply_seq=reply_seq, after_offset=after_offset),
        metadata=owner.md,
    )
    return [response async for response in call]


async def attach_error(
    stub: "Stub", owner: "Owner", session_id: str, *, reply_seq: int = 0, after_offset: int = 0
) -> grpc.aio.AioRpcError:
    """The error an Attach ends with (it must end in one)."""
    try:
        await attach(stub, owner, session_id, reply_seq=reply_seq, after_offset=after_offset)
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the Attach ended OK")


async def streaming(
    stub: "Stub", owner: "Owner", request: pb.SendRequest, deltas: int
) -> tuple["grpc.aio.UnaryStreamCall[pb.SendRequest, pb.SendResponse]", pb.SendResponse]:
    """A Send under way: its call, read through `started` and `deltas` deltas, and
    its `started`."""
    call = stub.Send(request, metadata=owner.md)
    started = await call.read()
    assert isinstance(started, pb.SendResponse)
    for _ in range(deltas):
        assert isinstance(await call.read(), pb.SendResponse)
    return call, started


def detached(session_id: str, content: str) -> pb.SendRequest:
    return pb.SendRequest(session_id=session_id, content=content, detach=True)


def offsets(responses: list[pb.SendResponse]) -> list[int]:
    """The end_offset of each delta."""
    return [r.delta.end_offset for r in responses if r.WhichOneof("event") == "delta"]
