"""The SessionService as its descriptor describes it, and a generic way to call it.

Tests that must cover every RPC and every Manage action enumerate them from here,
so a new one shows up as a case that fails until the test knows how to build it.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from sessions_client import pb

SERVICE = pb.DESCRIPTOR.services_by_name["SessionService"]
METHODS: list[MethodDescriptor] = list(SERVICE.methods)
MANAGE_ACTIONS = [f.name for f in pb.ManageRequest.DESCRIPTOR.oneofs_by_name["action"].fields]
STATUS_DETAILS_KEY = "grpc-status-details-bin"


def path(method: MethodDescriptor) -> str:
    return f"/{SERVICE.full_name}/{method.name}"


def request_class(method: MethodDescriptor) -> type[Message]:
    return GetMessageClass(method.input_type)


def takes_session_id(method: MethodDescriptor) -> bool:
    return "session_id" in method.input_type.fields_by_name


@dataclass(frozen=True)
class Outcome:
    """How a call ended: its status, the rich status details, what it streamed."""

    code: grpc.StatusCode
    details: str | None = None
    status_details: bytes | None = None
    responses: list[Message] = field(default_factory=list)

    @property
    def refusal(self) -> tuple[grpc.StatusCode, str | None, bytes | None]:
        """Everything a caller can see of a failed call."""
        return self.code, self.details, self.status_details


async def invoke(
    channel: grpc.aio.Channel,
    method: MethodDescriptor,
    request: Message | bytes,
    metadata: Sequence[tuple[str, str]] = (),
    deadline: float = 10.0,
) -> Outcome:
    """Calls `method` with a message, or with raw bytes sent as they are."""
    serializer = None if isinstance(request, bytes) else type(request).SerializeToString
    deserializer = GetMessageClass(method.output_type).FromString
    responses: list[Message] = []
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path(method), serializer, deserializer)
            async for response in stream(request, metadata=tuple(metadata), timeout=deadline):
                responses.append(response)
        else:
            unary = channel.unary_unary(path(method), serializer, deserializer)
            responses.append(await unary(request, metadata=tuple(metadata), timeout=deadline))
    except grpc.aio.AioRpcError as error:
        trailers: Any = error.trailing_metadata() or ()
        details = next((v for k, v in trailers if k == STATUS_DETAILS_KEY), None)
        return Outcome(error.code(), error.details(), details, responses)
    return Outcome(grpc.StatusCode.OK, responses=responses)
