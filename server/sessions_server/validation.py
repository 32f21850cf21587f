"""Checks of caller-supplied values, raising field errors before anything is stored."""

import re
import uuid

from sessions_server.errors import InvalidArgument, SessionNotFound

NAME_MAX_CHARS = 200
FORK_PREFIX = "Fork: "
"""A fork is named after its source: this, then the source's name, cut to the limit."""
SYSTEM_PROMPT_MAX_CHARS = 100_000
MODEL_MAX_CHARS = 200
REQUEST_ID_MAX_CHARS = 200
QUERY_MAX_CHARS = 200
LABELS_MAX = 64
LABEL_KEY_MAX_CHARS = 63
LABEL_VALUE_MAX_CHARS = 256

# C0 controls except tab / newline / carriage return, DEL, and C1 controls.
# PostgreSQL `text` rejects U+0000 outright; the others have no place in names.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile(r"[\t\n\r]")


def _reject_controls(field: str, value: str, *, allow_line_breaks: bool) -> None:
    if _CONTROL.search(value) or (not allow_line_breaks and _LINE_BREAK.search(value)):
        raise InvalidArgument.field(field, "must not contain control characters")


def name(value: str, field: str = "name") -> str:
    """A session name: trimmed, 1..200 characters, one line."""
    trimmed = value.strip()
    if not trimmed:
        raise InvalidArgument.field(field, "must not be blank")
    if len(trimmed) > NAME_MAX_CHARS:
        raise InvalidArgument.field(field, f"must be at most {NAME_MAX_CHARS} characters")
    _reject_controls(field, trimmed, allow_line_breaks=False)
    return trimmed


def text(value: str, field: str, *, max_chars: int, required: bool) -> str:
    """Free text such as a system prompt: line breaks allowed, no other controls."""
    if required and not value.strip():
        raise InvalidArgument.field(field, "must not be blank")
    if len(value) > max_chars:
        raise InvalidArgument.field(field, f"must be at most {max_chars} characters")
    _reject_controls(field, value, allow_line_breaks=True)
    return value


def content(value: str, max_bytes: int) -> str:
    """A message body: not blank, no NUL, at most `max_bytes` of UTF-8."""
    if not value.strip():
        raise InvalidArgument.field("content", "must not be blank")
    if len(value.encode("utf-8", "surrogatepass")) > max_bytes:
        raise InvalidArgument.field("content", f"must be at most {max_bytes} bytes")
    if "\x00" in value:
        raise InvalidArgument.field("content", "must not contain NUL characters")
    return value


def one_line(value: str, field: str, *, max_chars: int) -> str:
    """A short single-line value such as a model spec, request id or query."""
    if len(value) > max_chars:
        raise InvalidArgument.field(field, f"must be at most {max_chars} characters")
    _reject_controls(field, value, allow_line_breaks=False)
    return value


def labels(values: dict[str, str]) -> dict[str, str]:
    if len(values) > LABELS_MAX:
        raise InvalidArgument.field("labels", f"at most {LABELS_MAX} labels")
    for key, value in values.items():
        if not key or len(key) > LABEL_KEY_MAX_CHARS:
            raise InvalidArgument.field("labels", f"keys must be 1..{LABEL_KEY_MAX_CHARS} chars")
        if len(value) > LABEL_VALUE_MAX_CHARS:
            raise InvalidArgument.field(
                "labels", f"values must be at most {LABEL_VALUE_MAX_CHARS} characters"
            )
        _reject_controls("labels", key + value, allow_line_breaks=False)
    return dict(values)


def non_negative(value: int, field: str) -> int:
    if value < 0:
        raise InvalidArgument.field(field, "must not be negative")
    return value


def session_id(value: str) -> uuid.UUID:
    """A session id as the service writes it (36 characters, any case); anything
    else names no session of the caller."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise SessionNotFound() from None
    if str(parsed) != value.lower():  # braces, "urn:uuid:", no hyphens
        raise SessionNotFound()
    return parsed
