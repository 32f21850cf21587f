"""Manage: the actions on one session and the rules that guard them.

Rules: a starred session cannot be deleted; the caller's current session cannot
be deleted; only a user may unstar (an agent may star); truncate and delete wait
for no Send (a session held by a Send is SESSION_BUSY). Each action is one stored
function call (`store/sql/manage_session.sql`) that checks the rules with the
session row locked, so a rule checked is a rule kept.
"""

import uuid
from dataclasses import dataclass

from sessions_server import validation
from sessions_server.auth import Actor, Principal
from sessions_server.errors import (
    ServiceError,
    SessionBusy,
    SessionIsCurrent,
    SessionNotFound,
    SessionStarred,
    UnstarForbidden,
)
from sessions_server.models import Session
from sessions_server.store import Store
from sessions_server.store import sessions as session_rows

CURRENT = "current"
DEFAULT_KEEP_LAST = 10


@dataclass(frozen=True)
class Rename:
    name: str


@dataclass(frozen=True)
class Archive:
    pass


@dataclass(frozen=True)
class Unarchive:
    pass


@dataclass(frozen=True)
class Delete:
    pass


@dataclass(frozen=True)
class Star:
    pass


@dataclass(frozen=True)
class Unstar:
    pass


@dataclass(frozen=True)
class Truncate:
    keep_last: int | None = None


@dataclass(frozen=True)
class Fork:
    keep_first: int | None = None
    name: str = ""


Action = Rename | Archive | Unarchive | Delete | Star | Unstar | Truncate | Fork


@dataclass(frozen=True)
class ManageResult:
    session: Session
    messages_removed: int = 0
    messages_copied: int = 0
    deleted: bool = False


def _target(session_id: str, current_session_id: str) -> uuid.UUID:
    if session_id == CURRENT:
        if not current_session_id:
            raise SessionNotFound()
        session_id = current_session_id
    return validation.session_id(session_id)


def _checked(action: Action) -> Action:
    """The action with its arguments validated, before anything is read."""
    match action:
        case Rename(name):
            return Rename(validation.name(name))
        case Truncate(keep_last):
            if keep_last is not None:
                validation.non_negative(keep_last, "truncate.keep_last")
        case Fork(keep_first, name):
            if keep_first is not None:
                validation.non_negative(keep_first, "fork.keep_first")
            if name:
                return Fork(keep_first, validation.name(name, "fork.name"))
    return action


class ManageOperations:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def manage(
        self, principal: Principal, session_id: str, current_session_id: str, action: Action
    ) -> ManageResult:
        action = _checked(action)
        sid = _target(session_id, current_session_id)
        verb, name, keep = _arguments(action)
        managed = await session_rows.manage(
            self._store,
            principal.owner,
            sid,
            verb,
            name=name,
            keep=keep,
            by_user=principal.actor is Actor.USER,
            current=_current_id(current_session_id),
        )
        if managed.session is None:
            raise _REFUSALS[managed.outcome]()
        return ManageResult(
            managed.session,
            messages_removed=managed.removed,
            messages_copied=managed.copied,
            deleted=isinstance(action, Delete),
        )


_REFUSALS: dict[str, type[ServiceError]] = {
    "missing": SessionNotFound,
    "starred": SessionStarred,
    "current": SessionIsCurrent,
    "busy": SessionBusy,
    "forbidden": UnstarForbidden,
}


def _arguments(action: Action) -> tuple[str, str | None, int | None]:
    """The action's name as `manage_session` takes it, its name and its count."""
    match action:
        case Rename(name):
            return "rename", name, None
        case Truncate(keep_last):
            return "truncate", None, DEFAULT_KEEP_LAST if keep_last is None else keep_last
        case Fork(keep_first, name):
            return "fork", name or None, keep_first or None
    return type(action).__name__.lower(), None, None


def _current_id(current_session_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(current_session_id) if current_session_id else None
    except ValueError:
        return None
