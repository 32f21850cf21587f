"""`manage_session`: list, switch, rename, archive, unarchive, delete, important,
unimportant, truncate, fork, cancel.

`current` is the agent's own session (`ctx["session_id"]`), and every call tells
the server which session that is, so deleting it is refused whatever id names it.
The rules themselves (a starred session cannot be deleted, only a user unstars)
are the server's; the tool only words its answers.
"""

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

from sessions_client._errors import NotFound
from sessions_client._generated.sessions.v1 import sessions_pb2 as pb
from sessions_client.tools._format import LIST_LIMIT, session_link, session_list
from sessions_client.tools._manage_input import ACTIONS, Command, parse, whole_number
from sessions_client.tools._tool import USE_EXACT_ID, Call, Tool, ToolError, about_session

ARCHIVED_FILTERS = {"archived": pb.ARCHIVED_FILTER_ONLY, "all": pb.ARCHIVED_FILTER_INCLUDE}
STARRED_FILTERS = ("important", "starred")

Outcome = tuple[str, pb.Session]
Handler = Callable[[Call, str, Command], Awaitable[Outcome]]


async def _list(call: Call, command: Command) -> dict[str, Any]:
    keyword = command.filter or command.value or command.session
    word = keyword.lower()
    filtered = word in ARCHIVED_FILTERS or word in STARRED_FILTERS
    page = await call.client.list(
        query="" if filtered else keyword,
        page_size=LIST_LIMIT,
        archived=ARCHIVED_FILTERS.get(word, pb.ARCHIVED_FILTER_UNSPECIFIED),
        starred_only=word in STARRED_FILTERS,
    )
    return {"results": session_list(page, keyword, datetime.datetime.now(datetime.UTC))}


async def _switch(call: Call, session_id: str, command: Command) -> Outcome:
    session = (await call.client.get(session_id)).session
    return f"{session_link(session)} - click to open.", session


async def _rename(call: Call, session_id: str, command: Command) -> Outcome:
    if not command.value:
        raise ToolError("rename needs the new name: 'value' in JSON, or the third line.")
    result = await call.client.rename(
        session_id, command.value, current_session_id=call.current_session_id
    )
    return f"Renamed to {session_link(result.session)}.", result.session


async def _archive(call: Call, session_id: str, command: Command) -> Outcome:
    result = await call.client.archive(session_id, current_session_id=call.current_session_id)
    return f"Archived {session_link(result.session)}.", result.session


async def _unarchive(call: Call, session_id: str, command: Command) -> Outcome:
    result = await call.client.unarchive(session_id, current_session_id=call.current_session_id)
    return f"Unarchived {session_link(result.session)}.", result.session


async def _delete(call: Call, session_id: str, command: Command) -> Outcome:
    result = await call.client.delete(session_id, current_session_id=call.current_session_id)
    name = result.session.name
    return f"Deleted '{name}' and its {result.messages_removed} message(s).", result.session


async def _important(call: Call, session_id: str, command: Command) -> Outcome:
    result = await call.client.star(session_id, current_session_id=call.current_session_id)
    return f"Marked {session_link(result.session)} as important.", result.session


async def _unimportant(call: Call, session_id: str, command: Command) -> Outcome:
    result = await call.client.unstar(session_id, current_session_id=call.current_session_id)
    return f"Removed the important mark from {session_link(result.session)}.", result.session


async def _truncate(call: Call, session_id: str, command: Command) -> Outcome:
    given = command.keep_count or command.value
    keep = whole_number(given, "truncate's keep_count") if given else None
    result = await call.client.truncate(
        session_id, keep, current_session_id=call.current_session_id
    )
    session = result.session
    return (
        f"Truncated {session_link(session)}: removed {result.messages_removed} message(s), "
        f"{session.message_count} left.",
        session,
    )


async def _fork(call: Call, session_id: str, command: Command) -> Outcome:
    name, count = command.value, command.keep_count
    if not count and name.isdigit():
        name, count = "", name
    keep = whole_number(count, "fork's keep_count") if count else None
    result = await call.client.fork(
        session_id, keep_first=keep, name=name, current_session_id=call.current_session_id
    )
    return (
        f"Forked into {session_link(result.session)} with "
        f"{result.messages_copied} message(s) copied.",
        result.session,
    )


async def _cancel(call: Call, session_id: str, command: Command) -> Outcome:
    try:
        result = await call.client.cancel(session_id)
    except NotFound as error:
        if error.reason != "REPLY_NOT_FOUND":
            raise
        raise ToolError(f"Session '{session_id}' has no reply to cancel.") from error
    session = (await call.client.get(session_id)).session
    if not result.cancelled:
        return (
            f"Nothing to cancel in {session_link(session)}: its last reply had already ended.",
            session,
        )
    kept = len(result.assistant_message.content)
    return (
        f"Cancelled the reply in progress in {session_link(session)}; "
        f"the {kept} character(s) written so far are kept.",
        session,
    )


HANDLERS: dict[str, Handler] = {
    "switch": _switch,
    "rename": _rename,
    "archive": _archive,
    "unarchive": _unarchive,
    "delete": _delete,
    "important": _important,
    "unimportant": _unimportant,
    "truncate": _truncate,
    "fork": _fork,
    "cancel": _cancel,
}


class ManageSession(Tool):
    name = "manage_session"
    description = (
        "Manage the user's chat sessions. Actions: list (filter: a keyword, 'archived', "
        "'important' or 'all'), switch (give the user a link that opens the session; also "
        "open/select/view), rename (value: the new name), archive, unarchive, delete, "
        "important (mark it; only the user can unmark), unimportant, truncate (keep_count: "
        "newest messages to keep, default 10), fork (keep_count: oldest messages to copy, "
        "default all; value: the new name), cancel (stop the reply the session is generating, "
        "keeping its text so far; also stop). 'current' is the session of this conversation."
    )
    content_description = (
        'JSON {"action": ..., "session_id": ..., "value": ..., "keep_count": ..., '
        '"filter": ...} or lines: action, session id, value. '
        f"{USE_EXACT_ID}, or 'current'. Actions: {', '.join(ACTIONS)}."
    )

    async def run(self, content: str, call: Call) -> dict[str, Any]:
        command = parse(content)
        if command.action == "list":
            return await _list(call, command)
        if not command.session:
            raise ToolError(
                f"{command.action} needs a session id. {USE_EXACT_ID}, or 'current' for this "
                "session."
            )
        session_id = call.session_id(command.session)
        with about_session(session_id):
            text, session = await HANDLERS[command.action](call, session_id, command)
        return {"result": text, "session_id": session.id}
