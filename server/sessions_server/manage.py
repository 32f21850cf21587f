"""Manage: the actions on one session and the rules that guard them.

Rules: a starred session cannot be deleted; the caller's current session cannot
be deleted; only a user may unstar (an agent may star); truncate and delete wait
for no Send (a session held by a Send is SESSION_BUSY). Each action runs in one
transaction with the session row locked, so a rule checked is a rule kept.
"""

import uuid
from dataclasses import dataclass

from sessions_server import validation
from sessions_server.auth import Actor, Principal
from sessions_server.errors import (
    SessionBusy,
    SessionIsCurrent,
    SessionNotFound,
    SessionStarred,
    UnstarForbidden,
)
from sessions_server.models import EventType, NewSession, Session
from sessions_server.store import Scope, Store
from sessions_server.store import events as event_rows
from sessions_server.store import messages as message_rows
from sessions_server.store import sessions as session_rows

CURRENT = "current"
DEFAULT_KEEP_LAST = 10
FORK_PREFIX = "Fork: "


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


def fork_name(source_name: str) -> str:
    """ "Fork: <name>", cut to the name limit and trimmed like every stored name."""
    return (FORK_PREFIX + source_name)[: validation.NAME_MAX_CHARS].rstrip()


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
        current = _current_id(current_session_id)
        async with self._store.scope(principal.owner) as scope:
            result = await _apply(scope, principal, sid, current, action)
            await event_rows.record(scope, result.session.id, _event_of(action))
            return result


def _event_of(action: Action) -> EventType:
    match action:
        case Delete():
            return EventType.DELETED
        case Fork():
            return EventType.CREATED
    return EventType.UPDATED


async def _apply(
    scope: Scope, principal: Principal, sid: uuid.UUID, current: uuid.UUID | None, action: Action
) -> ManageResult:
    match action:
        case Rename(name):
            return ManageResult(await session_rows.update(scope, sid, name=name))
        case Archive():
            return ManageResult(await session_rows.update(scope, sid, archived=True))
        case Unarchive():
            return ManageResult(await session_rows.update(scope, sid, archived=False))
        case Star():
            return ManageResult(await session_rows.update(scope, sid, starred=True))
        case Unstar():
            await session_rows.get(scope, sid)
            if principal.actor is not Actor.USER:
                raise UnstarForbidden()
            return ManageResult(await session_rows.update(scope, sid, starred=False))
        case Delete():
            return await _delete(scope, sid, current)
        case Truncate(keep_last):
            return await _truncate(scope, sid, keep_last)
        case Fork(keep_first, name):
            return await _fork(scope, sid, keep_first, name)
    raise AssertionError(f"unhandled action {action!r}")


def _current_id(current_session_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(current_session_id) if current_session_id else None
    except ValueError:
        return None


async def _delete(scope: Scope, sid: uuid.UUID, current: uuid.UUID | None) -> ManageResult:
    session, busy = await session_rows.lock(scope, sid)
    if session.starred:
        raise SessionStarred()
    if sid == current:
        raise SessionIsCurrent()
    if busy:
        raise SessionBusy()
    await session_rows.delete(scope, sid)
    return ManageResult(session, messages_removed=session.message_count, deleted=True)


async def _truncate(scope: Scope, sid: uuid.UUID, keep_last: int | None) -> ManageResult:
    session, busy = await session_rows.lock(scope, sid)
    if busy:
        raise SessionBusy()
    keep = DEFAULT_KEEP_LAST if keep_last is None else keep_last
    removed = await message_rows.keep_newest(scope, sid, keep)
    session = await session_rows.update(scope, sid, message_count=session.message_count - removed)
    return ManageResult(session, messages_removed=removed)


async def _fork(scope: Scope, sid: uuid.UUID, keep_first: int | None, name: str) -> ManageResult:
    source = await session_rows.get(scope, sid)
    new = NewSession(
        name=name or fork_name(source.name),
        model=source.model,
        endpoint=source.endpoint,
        system_prompt=source.system_prompt,
        labels=source.labels,
    )
    fork = await session_rows.insert(scope, new, forked_from=source.id)
    copied = await message_rows.copy_oldest(scope, source.id, fork.id, keep_first or None)
    fork = await session_rows.get(scope, fork.id)
    return ManageResult(fork, messages_copied=copied)
