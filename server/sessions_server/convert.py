"""Conversions between the domain's records and the contract's messages."""

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sessions_client import pb

from sessions_server import manage, send
from sessions_server.endpoints import Registry
from sessions_server.errors import InvalidArgument
from sessions_server.models import ArchivedFilter, Event, ListQuery, Message, Session

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime) -> Timestamp:
    """`value` (time-zone aware, as the database gives it) to the microsecond.
    Worked out here: `Timestamp.FromDatetime` costs several times more, and a List
    page converts 150 of them."""
    since = value - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def session(record: Session, registry: Registry) -> pb.Session:
    return pb.Session(
        id=str(record.id),
        name=record.name,
        model=record.model,
        endpoint=record.endpoint,
        endpoint_url=registry.url_of(record.endpoint),
        system_prompt=record.system_prompt,
        message_count=record.message_count,
        archived=record.archived,
        starred=record.starred,
        forked_from=str(record.forked_from) if record.forked_from else "",
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
        last_active_time=timestamp(record.last_active_time),
        labels=record.labels,
    )


def message(record: Message) -> pb.Message:
    converted = pb.Message(
        seq=record.seq,
        role=int(record.role),  # type: ignore[arg-type]
        content=record.content,
        status=int(record.status),  # type: ignore[arg-type]
        create_time=timestamp(record.create_time),
    )
    if record.usage is not None:
        converted.usage.prompt_tokens = record.usage.prompt_tokens
        converted.usage.completion_tokens = record.usage.completion_tokens
    return converted


def event(record: Event, registry: Registry) -> pb.WatchResponse:
    """A Watch event; a session that is gone is named by its id alone."""
    if record.session is None:
        converted = pb.Session(id=str(record.session_id))
    else:
        converted = session(record.session, registry)
    return pb.WatchResponse(
        type=int(record.type),  # type: ignore[arg-type]
        session=converted,
        time=timestamp(record.time),
        event_id=record.id,
    )


def send_response(event: send.SendEvent) -> pb.SendResponse:
    match event:
        case send.Delta(text, end_offset):
            return pb.SendResponse(delta=pb.TextDelta(text=text, end_offset=end_offset))
        case send.Started(user_message, session_name, reply_seq):
            return pb.SendResponse(
                started=pb.SendStarted(
                    user_message=message(user_message),
                    session_name=session_name,
                    reply_seq=reply_seq,
                )
            )
        case send.Completed(assistant_message, replayed):
            return pb.SendResponse(
                completed=pb.SendCompleted(
                    assistant_message=message(assistant_message), replayed=replayed
                )
            )
    raise AssertionError(f"unhandled event {event!r}")


_ARCHIVED = {
    pb.ARCHIVED_FILTER_UNSPECIFIED: ArchivedFilter.EXCLUDE,
    pb.ARCHIVED_FILTER_EXCLUDE: ArchivedFilter.EXCLUDE,
    pb.ARCHIVED_FILTER_INCLUDE: ArchivedFilter.INCLUDE,
    pb.ARCHIVED_FILTER_ONLY: ArchivedFilter.ONLY,
}


def list_query(request: pb.ListRequest) -> ListQuery:
    archived = _ARCHIVED.get(request.archived)
    if archived is None:
        raise InvalidArgument.field("archived", "unknown filter value")
    return ListQuery(text=request.query, archived=archived, starred_only=request.starred_only)


def manage_action(request: pb.ManageRequest) -> manage.Action:
    match request.WhichOneof("action"):
        case "rename":
            return manage.Rename(request.rename.name)
        case "archive":
            return manage.Archive()
        case "unarchive":
            return manage.Unarchive()
        case "delete":
            return manage.Delete()
        case "star":
            return manage.Star()
        case "unstar":
            return manage.Unstar()
        case "truncate":
            keep = request.truncate.keep_last if request.truncate.HasField("keep_last") else None
            return manage.Truncate(keep)
        case "fork":
            first = request.fork.keep_first if request.fork.HasField("keep_first") else None
            return manage.Fork(first, request.fork.name)
    raise InvalidArgument.field("action", "exactly one action is required")
