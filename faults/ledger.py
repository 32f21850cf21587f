"""What the clients saw: every call's status code, and every write the service
acknowledged, to be found in the database afterwards.

A write counts as acknowledged once the client holds the proof: a Create or a
Manage fork that returned, a Send whose `started` arrived (its user message is
stored), a Send whose `completed` arrived (its reply is stored with that status
and text), a Cancel that returned (the reply as finally stored), a delete that
returned. Every logical write carries a unique text (a session's name, a
message's content), so that a write stored twice shows as two rows.
"""

import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

FORBIDDEN = frozenset({"INTERNAL", "UNKNOWN"})
"""Codes no call may end with, whatever the fault."""


def reason_of(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a failed call; empty when it carries none (the
    failure happened in the transport, not in the service)."""
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:
        return ""
    if status is None:
        return ""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


@dataclass
class SendRecord:
    """One logical Send: its attempts share the request_id and the content."""

    owner: str
    session_id: str
    content: str
    request_id: str
    started: bool = False
    reply_seq: int = 0
    completed: tuple[int, int, str] | None = None
    """(seq, status, text) of the reply as `completed` told it."""


@dataclass(frozen=True)
class ReplyRecord:
    """A reply as an acknowledgement other than `completed` told it (a Cancel's
    response)."""

    owner: str
    session_id: str
    seq: int
    status: int
    content: str


@dataclass
class Ledger:
    codes: Counter[str] = field(default_factory=Counter)
    """Every call's final code, retries each counted."""
    reasons: Counter[str] = field(default_factory=Counter)
    """`method code reason` of every failed call."""
    forbidden: list[str] = field(default_factory=list)
    """The calls that ended INTERNAL or UNKNOWN, described."""
    owners: set[str] = field(default_factory=set)
    sessions: dict[str, str] = field(default_factory=dict)
    """Acknowledged sessions (created or forked): id -> owner."""
    deleted: set[str] = field(default_factory=set)
    """Sessions whose delete was acknowledged."""
    unknown: set[str] = field(default_factory=set)
    """Sessions whose delete was tried but never acknowledged: either is right."""
    sends: list[SendRecord] = field(default_factory=list)
    replies: list[ReplyRecord] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def ok(self, method: str) -> None:
        self.codes["OK"] += 1

    def failed(self, method: str, error: grpc.aio.AioRpcError) -> str:
        """Records a failed call; returns its reason."""
        code = error.code().name
        reason = reason_of(error)
        self.codes[code] += 1
        self.reasons[f"{method} {code} {reason or '-'}"] += 1
        if code in FORBIDDEN:
            seconds = time.monotonic() - self.started
            self.forbidden.append(f"{method} {code} at {seconds:.1f} s: {error.details()}")
        return reason

    def cancelled_by_client(self, method: str) -> None:
        """A call the client itself cancelled (its code is not the service's)."""
        self.codes["CANCELLED"] += 1
        self.reasons[f"{method} CANCELLED by the client"] += 1

    @property
    def acknowledged(self) -> int:
        sends = sum(record.started + (record.completed is not None) for record in self.sends)
        return len(self.sessions) + len(self.deleted) + sends + len(self.replies)

    def codes_text(self) -> str:
        return " ".join(f"{code} {count}" for code, count in self.codes.most_common())
