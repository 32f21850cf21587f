"""The errors a call to the service raises: one small tree, one class per status code.

    SessionsError                 any failed call; `.code`, `.reason`, `.message`
    ├── InvalidArgument           INVALID_ARGUMENT     (`.violations` names the fields)
    ├── NotFound                  NOT_FOUND
    ├── FailedPrecondition        FAILED_PRECONDITION
    ├── PermissionDenied          PERMISSION_DENIED
    ├── Unauthenticated           UNAUTHENTICATED
    ├── Aborted                   ABORTED
    ├── ResourceExhausted         RESOURCE_EXHAUSTED
    ├── OutOfRange                OUT_OF_RANGE
    ├── DeadlineExceeded          DEADLINE_EXCEEDED
    ├── Unavailable               UNAVAILABLE
    ├── Cancelled                 CANCELLED
    ├── Unimplemented             UNIMPLEMENTED
    └── Internal                  INTERNAL, UNKNOWN, DATA_LOSS

The class says what kind of failure it is; `reason` says which one, as the server's
`google.rpc.ErrorInfo` named it (`SESSION_NOT_FOUND`, `SESSION_STARRED`, ...), or
the status code's name when the failure came from gRPC itself (a deadline, a
connection refused) and carries no ErrorInfo.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

DOMAIN = "sessions.v1"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid request field, from the error's `google.rpc.BadRequest`."""

    field: str
    description: str


class SessionsError(Exception):
    """A call to the service failed."""

    status_codes: ClassVar[tuple[grpc.StatusCode, ...]] = ()

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        violations: tuple[FieldViolation, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason: str = reason or code.name
        """The ErrorInfo reason, or the status code's name when there is none."""
        self.metadata: Mapping[str, str] = dict(metadata or {})
        """The ErrorInfo metadata (an INTERNAL error's `correlation_id`, for one)."""
        self.violations = violations

    def __str__(self) -> str:
        return f"{self.code.name} {self.reason}: {self.message}"


class InvalidArgument(SessionsError):
    status_codes = (grpc.StatusCode.INVALID_ARGUMENT,)


class NotFound(SessionsError):
    status_codes = (grpc.StatusCode.NOT_FOUND,)


class FailedPrecondition(SessionsError):
    status_codes = (grpc.StatusCode.FAILED_PRECONDITION,)


class PermissionDenied(SessionsError):
    status_codes = (grpc.StatusCode.PERMISSION_DENIED,)


class Unauthenticated(SessionsError):
    status_codes = (grpc.StatusCode.UNAUTHENTICATED,)


class Aborted(SessionsError):
    status_codes = (grpc.StatusCode.ABORTED,)


class ResourceExhausted(SessionsError):
    status_codes = (grpc.StatusCode.RESOURCE_EXHAUSTED,)


class OutOfRange(SessionsError):
    status_codes = (grpc.StatusCode.OUT_OF_RANGE,)


class DeadlineExceeded(SessionsError):
    status_codes = (grpc.StatusCode.DEADLINE_EXCEEDED,)


class Unavailable(SessionsError):
    status_codes = (grpc.StatusCode.UNAVAILABLE,)


class Cancelled(SessionsError):
    status_codes = (grpc.StatusCode.CANCELLED,)


class Unimplemented(SessionsError):
    status_codes = (grpc.StatusCode.UNIMPLEMENTED,)


class Internal(SessionsError):
    status_codes = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS)


_BY_CODE: dict[grpc.StatusCode, type[SessionsError]] = {
    code: cls for cls in SessionsError.__subclasses__() for code in cls.status_codes
}


def from_rpc_error(error: grpc.aio.AioRpcError) -> SessionsError:
    """The `SessionsError` for a failed call, with its ErrorInfo and BadRequest details."""
    code = error.code()
    reason: str | None = None
    metadata: Mapping[str, str] = {}
    violations: list[FieldViolation] = []
    # from_call reads only code(), details() and trailing_metadata(), which an
    # AioRpcError has although it is not typed as a grpc.Call.
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.domain == DOMAIN:
                reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return _BY_CODE.get(code, SessionsError)(
        error.details() or code.name,
        code=code,
        reason=reason,
        metadata=metadata,
        violations=tuple(violations),
    )
