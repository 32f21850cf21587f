"""The domain's records, as the store returns them and the service converts them."""

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime


class Role(enum.IntEnum):
    """Stored as small integers; the values match `sessions.v1.Role`."""

    SYSTEM = 1
    USER = 2
    ASSISTANT = 3


class MessageStatus(enum.IntEnum):
    """Stored as small integers; the values match `sessions.v1.MessageStatus`."""

    COMPLETE = 1
    INCOMPLETE = 2
    FAILED = 3
    IN_PROGRESS = 4
    """Being generated: the stored text grows as the reply streams."""


class EventType(enum.IntEnum):
    """Stored as small integers; the values match `sessions.v1.EventType`."""

    CREATED = 1
    UPDATED = 2
    DELETED = 3
    MESSAGE_ADDED = 4


class ArchivedFilter(enum.Enum):
    EXCLUDE = "exclude"
    INCLUDE = "include"
    ONLY = "only"


@dataclass(frozen=True)
class Session:
    owner: str
    id: uuid.UUID
    name: str
    model: str
    endpoint: str
    system_prompt: str
    labels: dict[str, str]
    message_count: int
    archived: bool
    starred: bool
    forked_from: uuid.UUID | None
    create_time: datetime
    update_time: datetime
    last_active_time: datetime


@dataclass(frozen=True)
class Event:
    """One change of one session, as Watch delivers it."""

    id: int
    type: EventType
    time: datetime
    session_id: uuid.UUID
    session: Session | None
    """The session as it is now; None once it is gone."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Message:
    seq: int
    role: Role
    content: str
    status: MessageStatus
    create_time: datetime
    usage: Usage | None = None


@dataclass(frozen=True)
class NewSession:
    name: str
    model: str
    endpoint: str
    system_prompt: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ListQuery:
    """What List asks for; the page position travels separately as a `Cursor`."""

    text: str = ""
    archived: ArchivedFilter = ArchivedFilter.EXCLUDE
    starred_only: bool = False


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the last row of the previous page."""

    last_active_time: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class Page:
    sessions: list[Session]
    next_cursor: Cursor | None
    total_size: int


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of the context a model is sent."""

    role: Role
    content: str
