"""Send: store the caller's message, stream the model's reply, store the reply.

    1. lease the session and store the user message    one round trip -> `started`
    2. stream the reply from the model endpoint          a `delta` as text arrives; no database
    3. store the reply, give the lease back              one round trip -> `completed`

Whatever ends the call, the session's history stays whole. A reply cut short by
the caller (cancel, deadline) is stored INCOMPLETE; by the endpoint, FAILED; a
failure before any text stores no reply, the user message stays and the status
says why. The closing writes run as tasks of their own: a cancelled call waits for
them without being able to interrupt them, and `SendOperations.aclose` lets them
finish at shutdown. While streaming, a heartbeat renews the lease; a process that
dies lets it lapse after `lease_seconds`.

A `request_id` makes Send safe to retry: a repeat whose reply is stored replays it
without calling the model; one whose reply is missing (the endpoint failed before
any text, or the process died) continues from the stored user message.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, Coroutine
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

from sessions_server import validation
from sessions_server.auth import Principal
from sessions_server.endpoints import Endpoint, Registry
from sessions_server.errors import ModelUnknown, RequestIdReused, SessionBusy, SessionNotFound
from sessions_server.models import Message, MessageStatus, Turn, Usage
from sessions_server.operations import fingerprint
from sessions_server.store import Scope, Store, history, leases, sends
from sessions_server.store import messages as message_rows
from sessions_server.store import requests as request_rows
from sessions_server.store import sessions as session_rows
from sessions_server.store.sends import NotOpened
from sessions_server.upstream import Upstream

log = logging.getLogger(__name__)

T = TypeVar("T")
METHOD = "Send"


@dataclass(frozen=True)
class SendInput:
    session_id: str
    content: str
    request_id: str = ""


@dataclass(frozen=True)
class SendLimits:
    max_message_bytes: int
    lease_seconds: float
    context_max_messages: int
    context_max_bytes: int
    max_concurrent_sends: int
    longest_reply: float
    """Seconds after which a heartbeat stops renewing, whatever happened to its Send."""


@dataclass(frozen=True)
class Started:
    user_message: Message
    session_name: str


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Completed:
    assistant_message: Message
    replayed: bool = False


SendEvent = Started | Delta | Completed


@dataclass(frozen=True)
class _Opened:
    """A leased session with the user message stored: ready to ask the model."""

    owner: str
    session_id: uuid.UUID
    session_name: str
    request_id: str
    lease: uuid.UUID
    endpoint: Endpoint
    model: str
    system_prompt: str
    user_message: Message
    turns: list[Turn]


@dataclass(frozen=True)
class _Replay:
    session_name: str
    user_message: Message
    reply: Message


class SendOperations:
    def __init__(
        self, store: Store, registry: Registry, upstream: Upstream, limits: SendLimits
    ) -> None:
        self._store = store
        self._registry = registry
        self._upstream = upstream
        self._limits = limits
        self._open_limits = sends.Limits(
            limits.lease_seconds,
            limits.max_concurrent_sends,
            limits.context_max_messages,
            limits.context_max_bytes,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeats: set[asyncio.Task[None]] = set()

    async def aclose(self, patience: float = 5.0) -> None:
        """After the server stopped, which cancels the calls still running: waits
        (up to `patience` seconds) for their Sends to end, then for the writes that
        store their replies and give their leases back."""
        if self._heartbeats:  # a Send ends its heartbeat as it starts its closing write
            await asyncio.wait(set(self._heartbeats), timeout=patience)
        for heartbeat in self._heartbeats:
            heartbeat.cancel()
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def send(
        self, principal: Principal, given: SendInput, deadline: float | None
    ) -> AsyncGenerator[SendEvent, None]:
        """The events of one Send; `deadline` is the caller's, in event-loop time."""
        content = validation.content(given.content, self._limits.max_message_bytes)
        session_id = validation.session_id(given.session_id)
        request_id = validation.one_line(
            given.request_id, "request_id", max_chars=validation.REQUEST_ID_MAX_CHARS
        )
        opened = await self._open(principal.owner, session_id, content, request_id)
        if isinstance(opened, _Replay):
            yield Started(opened.user_message, opened.session_name)
            yield Delta(opened.reply.content)
            yield Completed(opened.reply, replayed=True)
            return
        async with aclosing(self._relay(opened, deadline)) as events:
            async for event in events:
                yield event

    def _spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Runs `work` as a task of its own, kept until done (and awaited by aclose)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _open(
        self, owner: str, session_id: uuid.UUID, content: str, request_id: str
    ) -> _Opened | _Replay:
        task = self._spawn(self._begin(owner, session_id, content, request_id))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # The caller left while the lease was being taken: give it back if it was.
            self._spawn(self._undo(task))
            raise

    async def _undo(self, begin: asyncio.Task[_Opened | _Replay]) -> None:
        try:
            opened = await begin
        except Exception:
            return
        if isinstance(opened, _Opened):
            await self._close(opened, "", MessageStatus.INCOMPLETE, None)

    async def _begin(
        self, owner: str, session_id: uuid.UUID, content: str, request_id: str
    ) -> _Opened | _Replay:
        digest = fingerprint(METHOD, [str(session_id), content]) if request_id else ""
        lease = uuid.uuid4()
        opened = await sends.open_send(
            self._store,
            owner,
            session_id,
            lease,
            content,
            request_id,
            METHOD,
            digest,
            self._registry.usable(owner),
            self._open_limits,
        )
        if isinstance(opened, sends.Opened):
            return self._opened(owner, session_id, request_id, lease, opened)
        if opened is NotOpened.TAKEN:
            raise RequestIdReused()  # taken meanwhile by a Create with the same id
        if opened is NotOpened.UNUSABLE:
            raise ModelUnknown()
        async with self._store.scope(owner) as scope:
            if opened is NotOpened.REFUSED:
                raise await leases.refusal(scope, session_id, request_id)
            return await self._repeat(scope, session_id, lease, request_id, digest)

    def _opened(
        self,
        owner: str,
        session_id: uuid.UUID,
        request_id: str,
        lease: uuid.UUID,
        opened: sends.Opened,
    ) -> _Opened:
        return _Opened(
            owner=owner,
            session_id=session_id,
            session_name=opened.claim.name,
            request_id=request_id,
            lease=lease,
            endpoint=self._registry.get(opened.claim.endpoint, owner),
            model=opened.claim.model,
            system_prompt=opened.claim.system_prompt,
            user_message=opened.user_message,
            turns=opened.turns,
        )

    async def _repeat(
        self, scope: Scope, session_id: uuid.UUID, lease: uuid.UUID, request_id: str, digest: str
    ) -> _Opened | _Replay:
        """A Send whose request_id is stored: its reply replayed, or the Send resumed
        from its stored user message."""
        await leases.admit(scope)
        record = await request_rows.find(scope, request_id)
        if record is None:
            raise SessionNotFound()  # the session was deleted meanwhile, with its keys
        if record.method != METHOD or record.fingerprint != digest:
            raise RequestIdReused()
        if record.reply_seq is not None:
            return await _replay(scope, session_id, record.user_seq, record.reply_seq)
        claim, user = await self._resume(scope, session_id, lease, request_id, record.user_seq)
        turns = await history.context(
            scope,
            session_id,
            user.seq,
            self._limits.context_max_messages,
            self._limits.context_max_bytes,
        )
        # An endpoint no longer usable raises here, inside the transaction: rolled back.
        return self._opened(
            scope.owner, session_id, request_id, lease, sends.Opened(claim, user, turns)
        )

    async def _resume(
        self,
        scope: Scope,
        session_id: uuid.UUID,
        lease: uuid.UUID,
        request_id: str,
        user_seq: int | None,
    ) -> tuple[leases.Claim, Message]:
        """Leases the session for a repeat whose user message is stored, reply not."""
        claim = await leases.claim(
            scope,
            session_id,
            lease,
            self._limits.lease_seconds,
            request_id,
            self._limits.max_concurrent_sends,
        )
        if claim is None:
            raise await leases.refusal(scope, session_id, request_id)
        return claim, await _message_at(scope, session_id, user_seq)

    async def _relay(
        self, opened: _Opened, deadline: float | None
    ) -> AsyncGenerator[SendEvent, None]:
        heartbeat = self._spawn(self._heartbeat(opened))
        self._heartbeats.add(heartbeat)
        heartbeat.add_done_callback(self._heartbeats.discard)
        parts: list[str] = []
        reply = self._upstream.reply(
            opened.endpoint, opened.model, opened.system_prompt, opened.turns, deadline
        )
        try:
            async with reply:
                # The endpoint is asked already, while `started` goes out.
                yield Started(opened.user_message, opened.session_name)
                while (text := await reply.next()) is not None:
                    parts.append(text)
                    yield Delta(text)
        except (asyncio.CancelledError, GeneratorExit):
            await self._finish(heartbeat, opened, parts, MessageStatus.INCOMPLETE, None)
            raise
        except BaseException:
            status = MessageStatus.INCOMPLETE if _expired(deadline) else MessageStatus.FAILED
            await self._finish(heartbeat, opened, parts, status, None)
            raise
        stored = await self._finish(heartbeat, opened, parts, MessageStatus.COMPLETE, reply.usage)
        if stored is None:
            raise SessionBusy("the session's lease lapsed during the reply; it was not stored")
        yield Completed(stored)

    async def _finish(
        self,
        heartbeat: asyncio.Task[None],
        opened: _Opened,
        parts: list[str],
        status: MessageStatus,
        usage: Usage | None,
    ) -> Message | None:
        """Stores the reply and gives the lease back, in a task the caller's
        cancellation cannot interrupt."""
        heartbeat.cancel()
        closing = self._spawn(self._close(opened, "".join(parts), status, usage))
        return await asyncio.shield(closing)

    async def _close(
        self, opened: _Opened, text: str, status: MessageStatus, usage: Usage | None
    ) -> Message | None:
        """The reply as stored; None when there is none to store (no text and not
        complete) or the lease was lost."""
        sid = opened.session_id
        try:
            if status is not MessageStatus.COMPLETE and not text:
                async with self._store.scope(opened.owner) as scope:
                    await leases.release(scope, sid, opened.lease)
                return None
            reply = await sends.close_send(
                self._store, opened.owner, sid, opened.lease, text, status, usage, opened.request_id
            )
            if reply is None:
                log.warning("session %s: lease lost before the reply was stored", sid)
            return reply
        except Exception:
            log.exception("session %s: storing the reply failed", sid)
            raise

    async def _heartbeat(self, opened: _Opened) -> None:
        """Renews the lease until cancelled, the lease is lost, or the longest
        possible reply is over (so a Send that is never closed cannot hold it)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._limits.longest_reply
        interval = self._limits.lease_seconds / 3
        while loop.time() + interval < give_up:
            await asyncio.sleep(interval)
            try:
                async with self._store.scope(opened.owner) as scope:
                    renewed = await leases.renew(
                        scope, opened.session_id, opened.lease, self._limits.lease_seconds
                    )
            except Exception:
                log.warning("session %s: renewing the lease failed", opened.session_id)
                continue
            if not renewed:
                log.warning("session %s: lease lost while streaming", opened.session_id)
                return


def _expired(deadline: float | None) -> bool:
    """Whether the caller's deadline has passed (then a cut reply is the caller's
    doing, not the endpoint's). Timers fire up to a clock tick early: allow that."""
    return deadline is not None and asyncio.get_running_loop().time() >= deadline - 0.01


async def _message_at(scope: Scope, session_id: uuid.UUID, seq: int | None) -> Message:
    """Message `seq` of the session, which a stored request_id points at."""
    found, _ = await message_rows.newest(scope, session_id, 1, seq + 1) if seq else ([], False)
    if not found or found[0].seq != seq:
        raise RequestIdReused("request_id refers to a message that was truncated away")
    return found[0]


async def _replay(
    scope: Scope, session_id: uuid.UUID, user_seq: int | None, reply_seq: int
) -> _Replay:
    session = await session_rows.get(scope, session_id)
    return _Replay(
        session.name,
        await _message_at(scope, session_id, user_seq),
        await _message_at(scope, session_id, reply_seq),
    )
