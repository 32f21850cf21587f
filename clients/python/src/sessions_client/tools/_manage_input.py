"""What `manage_session` was asked: JSON or lines, read into one `Command`.

JSON: `{"action": ..., "session_id" | "session" | "id": ..., "value" | "name" |
"new_name" | "title": ..., "keep_count": ..., "filter": ...}`. Lines: the action,
the session id, then the value (all further lines). Models write either, with
any of these key names, so all are accepted.
"""

import json
from dataclasses import dataclass
from typing import Any

from sessions_client.tools._tool import USE_EXACT_ID, ToolError

ACTIONS = (
    "list",
    "switch",
    "rename",
    "archive",
    "unarchive",
    "delete",
    "important",
    "unimportant",
    "truncate",
    "fork",
    "cancel",
)
ALIASES = {
    "open": "switch",
    "select": "switch",
    "view": "switch",
    "star": "important",
    "unstar": "unimportant",
    "stop": "cancel",
}
SESSION_KEYS = ("session_id", "session", "id")
VALUE_KEYS = ("value", "name", "new_name", "title")
VALID = f"Valid actions: {', '.join(ACTIONS)}. {USE_EXACT_ID} as the session id."
FORMAT_HELP = (
    'Send JSON like {"action": "rename", "session_id": "<exact id from list_sessions>", '
    '"value": "New name"}, or lines: action, session id, value.'
)


@dataclass(frozen=True)
class Command:
    action: str
    session: str = ""
    value: str = ""
    keep_count: str = ""
    filter: str = ""


def _first(fields: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = fields.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def _from_json(content: str) -> Command:
    try:
        fields: dict[str, Any] = json.loads(content)  # it starts with "{"
    except json.JSONDecodeError as error:
        raise ToolError(f"Invalid JSON ({error.msg}). {FORMAT_HELP}") from None
    return Command(
        action=_first(fields, ("action",)),
        session=_first(fields, SESSION_KEYS),
        value=_first(fields, VALUE_KEYS),
        keep_count=_first(fields, ("keep_count",)),
        filter=_first(fields, ("filter",)),
    )


def _from_lines(content: str) -> Command:
    lines = [line.strip() for line in content.strip().splitlines()]
    return Command(
        action=lines[0] if lines else "",
        session=lines[1] if len(lines) > 1 else "",
        value="\n".join(lines[2:]).strip(),
    )


def parse(content: str) -> Command:
    """The command in `content`, its action checked and its aliases resolved."""
    text = content.strip()
    command = _from_json(text) if text.startswith("{") else _from_lines(text)
    action = command.action.lower()
    action = ALIASES.get(action, action)
    if not action:
        raise ToolError(f"Missing action. {VALID} {FORMAT_HELP}")
    if action not in ACTIONS:
        raise ToolError(f"Unknown action '{command.action}'. {VALID}")
    return Command(action, command.session, command.value, command.keep_count, command.filter)


def whole_number(text: str, what: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise ToolError(f"{what} must be a whole number of messages (0 or more), not '{text}'.")
    return number
