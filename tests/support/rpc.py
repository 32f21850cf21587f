"""Helpers for asserting on what the server answered."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

T = TypeVar("T")


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo detail of a failed call (fails the test when there is none)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status on {error.code()}: {error.details()}"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError(f"no ErrorInfo on {error.code()}: {error.details()}")


def field_violations(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields named by the BadRequest detail of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    fields: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations)
    return fields


def reason(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str]:
    """(status code, ErrorInfo reason) of a failed call."""
    info = error_info(error)
    assert info.domain == "sessions.v1"
    return error.code(), info.reason


async def retried(
    call: Callable[[], Awaitable[T]],
    refusal: tuple[grpc.StatusCode, str],
    seconds: float = 20.0,
    interval: float = 0.1,
) -> T:
    """`call()`, repeated while it is refused with `refusal` (code, reason), as a
    client retries; any other failure, or the refusal after `seconds`, is raised."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if reason(error) != refusal or time.monotonic() > deadline:
                raise
            await asyncio.sleep(interval)
