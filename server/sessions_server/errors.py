"""The errors the service reports, each knowing its status code and reason.

    ServiceError
    ├── InvalidArgument            INVALID_ARGUMENT     INVALID_ARGUMENT (+ field violations)
    │   ├── ModelUnknown           INVALID_ARGUMENT     MODEL_UNKNOWN
    │   ├── RequestIdReused        INVALID_ARGUMENT     REQUEST_ID_REUSED
    │   ├── InvalidPageToken       INVALID_ARGUMENT     INVALID_PAGE_TOKEN
    │   └── MalformedRequest       INVALID_ARGUMENT     MALFORMED_REQUEST
    ├── Unauthenticated            UNAUTHENTICATED      UNAUTHENTICATED
    ├── SessionNotFound            NOT_FOUND            SESSION_NOT_FOUND
    ├── ReplyNotFound              NOT_FOUND            REPLY_NOT_FOUND
    ├── SessionStarred             FAILED_PRECONDITION  SESSION_STARRED
    ├── SessionIsCurrent           FAILED_PRECONDITION  SESSION_IS_CURRENT
    ├── UnstarForbidden            PERMISSION_DENIED    UNSTAR_FORBIDDEN
    ├── SessionBusy                ABORTED              SESSION_BUSY
    ├── RequestInProgress          ABORTED              REQUEST_IN_PROGRESS
    ├── TooManySends               RESOURCE_EXHAUSTED   TOO_MANY_SENDS
    ├── EventsExpired              OUT_OF_RANGE         EVENTS_EXPIRED
    ├── ShuttingDown               UNAVAILABLE          SHUTTING_DOWN
    ├── EventsUnavailable          UNAVAILABLE          EVENTS_UNAVAILABLE
    ├── DatabaseUnavailable        UNAVAILABLE          DATABASE_UNAVAILABLE
    ├── DatabaseConflict           ABORTED              DATABASE_CONFLICT
    └── UpstreamError
        ├── UpstreamUnavailable    UNAVAILABLE          UPSTREAM_UNAVAILABLE
        ├── UpstreamRateLimited    RESOURCE_EXHAUSTED   UPSTREAM_RATE_LIMITED
        ├── UpstreamTimeout        DEADLINE_EXCEEDED    UPSTREAM_TIMEOUT
        └── UpstreamRejected       FAILED_PRECONDITION  UPSTREAM_REJECTED

Codes are named as strings (the names of `grpc.StatusCode`) so that the domain and
the store stay free of gRPC; `rpc_errors` turns these into statuses in one place.
Messages are written for the caller: they never carry exception text, upstream
bodies or anything about another owner's data.
"""

from dataclasses import dataclass
from typing import ClassVar

DOMAIN = "sessions.v1"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class ServiceError(Exception):
    code: ClassVar[str] = "INTERNAL"
    reason: ClassVar[str] = "INTERNAL"
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidArgument(ServiceError):
    code = "INVALID_ARGUMENT"
    reason = "INVALID_ARGUMENT"
    default_message = "invalid argument"
    # The request field a subclass is always about, reported as its violation.
    default_field: ClassVar[str | None] = None

    def __init__(self, message: str | None = None, *violations: FieldViolation) -> None:
        super().__init__(message)
        if not violations and self.default_field is not None:
            violations = (FieldViolation(self.default_field, self.default_message),)
        self.violations = violations

    @classmethod
    def field(cls, field: str, description: str) -> "InvalidArgument":
        return cls(f"{field}: {description}", FieldViolation(field, description))


class ModelUnknown(InvalidArgument):
    reason = "MODEL_UNKNOWN"
    default_message = "unknown model or endpoint"
    default_field = "model"


class RequestIdReused(InvalidArgument):
    reason = "REQUEST_ID_REUSED"
    default_message = "request_id was already used with a different request"
    default_field = "request_id"


class InvalidPageToken(InvalidArgument):
    reason = "INVALID_PAGE_TOKEN"
    default_message = "page_token is invalid or was issued for another query"
    default_field = "page_token"


class MalformedRequest(InvalidArgument):
    reason = "MALFORMED_REQUEST"
    default_message = "the request is not a valid protobuf message of its type"


class Unauthenticated(ServiceError):
    code = "UNAUTHENTICATED"
    reason = "UNAUTHENTICATED"
    default_message = "missing or invalid credentials"


class SessionNotFound(ServiceError):
    code = "NOT_FOUND"
    reason = "SESSION_NOT_FOUND"
    default_message = "session not found"


class ReplyNotFound(ServiceError):
    code = "NOT_FOUND"
    reason = "REPLY_NOT_FOUND"
    default_message = "the session has no such reply"


class SessionStarred(ServiceError):
    code = "FAILED_PRECONDITION"
    reason = "SESSION_STARRED"
    default_message = "a starred session cannot be deleted; unstar it first"


class SessionIsCurrent(ServiceError):
    code = "FAILED_PRECONDITION"
    reason = "SESSION_IS_CURRENT"
    default_message = "the current session cannot be deleted"


class UnstarForbidden(ServiceError):
    code = "PERMISSION_DENIED"
    reason = "UNSTAR_FORBIDDEN"
    default_message = "only a user can unstar a session"


class SessionBusy(ServiceError):
    code = "ABORTED"
    reason = "SESSION_BUSY"
    default_message = "another Send is streaming on this session"


class RequestInProgress(ServiceError):
    code = "ABORTED"
    reason = "REQUEST_IN_PROGRESS"
    default_message = "a call with this request_id is still running"


class TooManySends(ServiceError):
    code = "RESOURCE_EXHAUSTED"
    reason = "TOO_MANY_SENDS"
    default_message = "too many concurrent Sends for this owner"


class EventsExpired(ServiceError):
    code = "OUT_OF_RANGE"
    reason = "EVENTS_EXPIRED"
    default_message = "after_event_id is older than the retained events"


class ShuttingDown(ServiceError):
    code = "UNAVAILABLE"
    reason = "SHUTTING_DOWN"
    default_message = "the server is shutting down; reconnect"


class EventsUnavailable(ServiceError):
    code = "UNAVAILABLE"
    reason = "EVENTS_UNAVAILABLE"
    default_message = "events cannot be read now; reconnect with the last event_id"


class DatabaseUnavailable(ServiceError):
    """The database could not be reached (restarting, failing over, full); the call
    changed nothing it did not commit, and a retry may succeed."""

    code = "UNAVAILABLE"
    reason = "DATABASE_UNAVAILABLE"
    default_message = "the database is unavailable; retry"


class DatabaseConflict(ServiceError):
    """PostgreSQL rolled the call's transaction back to let a concurrent one through
    (a deadlock or serialization failure); nothing of it was committed."""

    code = "ABORTED"
    reason = "DATABASE_CONFLICT"
    default_message = "the call conflicted with a concurrent one and changed nothing; retry"


class UpstreamError(ServiceError):
    """The model endpoint failed; the message never includes its body."""


class UpstreamUnavailable(UpstreamError):
    code = "UNAVAILABLE"
    reason = "UPSTREAM_UNAVAILABLE"
    default_message = "the model endpoint is unavailable"


class UpstreamRateLimited(UpstreamError):
    code = "RESOURCE_EXHAUSTED"
    reason = "UPSTREAM_RATE_LIMITED"
    default_message = "the model endpoint is rate limiting requests"


class UpstreamTimeout(UpstreamError):
    code = "DEADLINE_EXCEEDED"
    reason = "UPSTREAM_TIMEOUT"
    default_message = "the model endpoint did not answer in time"


class UpstreamRejected(UpstreamError):
    code = "FAILED_PRECONDITION"
    reason = "UPSTREAM_REJECTED"
    default_message = "the model endpoint rejected the request"
