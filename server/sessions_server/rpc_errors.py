"""The one place where service errors become gRPC statuses.

Each `ServiceError` becomes its status code with a `google.rpc.ErrorInfo` detail
(domain `sessions.v1`) and, for field errors, a `google.rpc.BadRequest`. Anything
else becomes INTERNAL "internal error": the exception is logged with a correlation
id that the caller also receives, and its text never leaves the process.
"""

import logging
import uuid
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from sessions_server.errors import DOMAIN, InvalidArgument, ServiceError

log = logging.getLogger(__name__)


def to_status(error: ServiceError, metadata: dict[str, str] | None = None) -> grpc.Status:
    details = [error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=metadata)]
    if isinstance(error, InvalidArgument) and error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    status = status_pb2.Status(
        code=getattr(code_pb2, error.code), message=error.message, details=packed
    )
    return rpc_status.to_status(status)


async def _abort(context: grpc.aio.ServicerContext[Any, Any], status: grpc.Status) -> NoReturn:
    await context.abort(status.code, status.details, status.trailing_metadata)


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], error: ServiceError) -> NoReturn:
    await _abort(context, to_status(error))


async def abort_unexpected(
    context: grpc.aio.ServicerContext[Any, Any], method: str, failure: BaseException
) -> NoReturn:
    """Logs `failure` with a correlation id and ends the call INTERNAL."""
    correlation_id = uuid.uuid4().hex
    log.error(
        "unexpected error in %s (correlation id %s)", method, correlation_id, exc_info=failure
    )
    error = ServiceError(f"internal error (correlation id {correlation_id})")
    await _abort(context, to_status(error, {"correlation_id": correlation_id}))
