"""Client of the sessions.v1 chat-session service.

    from sessions_client import SessionsClient

    async with SessionsClient("127.0.0.1:50051", owner="alice") as client:
        session = await client.create("Trip planning", "demo@echo")
        reply = await client.send_text(session.id, "Hello")

`pb` holds the contract's messages and enums, `pb_grpc` the generated stubs,
`sessions_client.tools` the agent tools. Failed calls raise a `SessionsError`.
"""

from sessions_client._client import DEFAULT, SessionsClient
from sessions_client._errors import (
    Aborted,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    SessionsError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from sessions_client._generated.sessions.v1 import sessions_pb2 as pb
from sessions_client._generated.sessions.v1 import sessions_pb2_grpc as pb_grpc

__all__ = [
    "DEFAULT",
    "Aborted",
    "Cancelled",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "SessionsClient",
    "SessionsError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "pb",
    "pb_grpc",
]
