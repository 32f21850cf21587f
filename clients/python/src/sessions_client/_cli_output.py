"""What `sessions` prints: a line per session for people, or the messages as JSON lines."""

import datetime
import sys

from google.protobuf import json_format
from google.protobuf.message import Message

from sessions_client._generated.sessions.v1 import sessions_pb2 as pb
from sessions_client.tools._format import relative_time

ROLES = {pb.ROLE_SYSTEM: "system", pb.ROLE_USER: "user", pb.ROLE_ASSISTANT: "assistant"}


class Output:
    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json

    def _json(self, message: Message) -> None:
        print(json_format.MessageToJson(message, indent=None), flush=True)

    def _line(self, session: pb.Session) -> str:
        now = datetime.datetime.now(datetime.UTC)
        active = relative_time(session.last_active_time.ToDatetime(datetime.UTC), now)
        marks = "".join(
            f" [{mark}]"
            for mark, on in (("starred", session.starred), ("archived", session.archived))
            if on
        )
        return (
            f"{session.id}  {session.name}  ({session.model}@{session.endpoint}, "
            f"{session.message_count} msgs, {active}){marks}"
        )

    def session(self, session: pb.Session) -> None:
        if self.as_json:
            self._json(session)
        else:
            print(self._line(session))

    def page(self, page: pb.ListResponse) -> None:
        if self.as_json:
            self._json(page)
            return
        for session in page.sessions:
            print(self._line(session))
        print(f"{len(page.sessions)} of {page.total_size} session(s)")
        if page.next_page_token:
            print(f"next page: --page-token {page.next_page_token}")

    def conversation(self, got: pb.GetResponse) -> None:
        if self.as_json:
            self._json(got)
            return
        print(self._line(got.session))
        if got.has_more:
            print("  ...")
        for message in got.messages:
            print(self._message(message))

    def _message(self, message: pb.Message) -> str:
        status = ""
        if message.status != pb.MESSAGE_STATUS_COMPLETE:
            name = pb.MessageStatus.Name(message.status).removeprefix("MESSAGE_STATUS_")
            status = f" ({name.lower().replace('_', ' ')})"
        return f"  [{message.seq}] {ROLES.get(message.role, '?')}{status}: {message.content}"

    def send_event(self, event: pb.SendResponse) -> None:
        if self.as_json:
            self._json(event)
        elif event.HasField("delta"):
            sys.stdout.write(event.delta.text)
            sys.stdout.flush()
        elif event.HasField("completed"):
            message = event.completed.assistant_message
            if message.status != pb.MESSAGE_STATUS_COMPLETE:
                print(f"\n({pb.MessageStatus.Name(message.status)})", file=sys.stderr)
            print()

    def cancelled(self, result: pb.CancelResponse) -> None:
        if self.as_json:
            self._json(result)
            return
        if result.cancelled:
            print("cancelled: the reply stopped, its text so far kept")
        else:
            print("not cancelled: the reply had already ended")
        print(self._message(result.assistant_message))

    def managed(self, action: str, result: pb.ManageResponse) -> None:
        if self.as_json:
            self._json(result)
            return
        if result.deleted:
            print(f"deleted {result.session.id} ({result.messages_removed} messages)")
            return
        print(self._line(result.session))
        if action == "truncate":
            print(f"removed {result.messages_removed} message(s)")
        elif action == "fork":
            print(f"copied {result.messages_copied} message(s) from {result.session.forked_from}")

    def event(self, event: pb.WatchResponse) -> None:
        if self.as_json:
            self._json(event)
        else:
            kind = pb.EventType.Name(event.type).removeprefix("EVENT_TYPE_")
            print(f"{event.event_id} {kind} {self._line(event.session)}", flush=True)
