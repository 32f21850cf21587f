"""Attach and Cancel: a reply followed, or stopped, from any replica.

Attach gives the reply's user message, its text past `after_offset`, then what
follows until it ends. A reply that this process generates is followed in memory
(`Generation.follow`); one generated elsewhere is read from the store, woken by
the replica's NOTIFY each time a flush or the end is stored (`notify_reply`), so
it runs about one flush behind the stream. The attacher registers before its first
read (`store/replies.listen`), which is what makes the writer NOTIFY at all.

Cancel stops a reply: in memory when it is generated here, else by flagging its
lease and telling every replica (`cancel_reply`); either way it then waits for the
reply's end as stored. A reply whose process died is settled (INCOMPLETE) by the
first of these that touches it.
"""

import time
import uuid
from collections.abc import AsyncGenerator

from sessions_server import validation
from sessions_server.auth import Principal
from sessions_server.errors import InvalidArgument, ReplyNotFound, ShuttingDown
from sessions_server.events import Subscription
from sessions_server.generation import Generation, Generations, Key, StopReason
from sessions_server.models import Message, MessageStatus
from sessions_server.send import Completed, Delta, SendEvent, Started, replayed
from sessions_server.store import Store, replies
from sessions_server.store import sessions as session_rows
from sessions_server.store.replies import Stored

LISTEN_SECONDS = 60.0
"""How long an attacher's registration lasts; renewed every third of it."""
RECHECK_SECONDS = 2.0
"""An attacher reads the store at least this often, notified or not."""


class AttachOperations:
    def __init__(self, store: Store, generations: Generations) -> None:
        self._store = store
        self._generations = generations

    async def attach(
        self, principal: Principal, session_id: str, reply_seq: int, after_offset: int
    ) -> AsyncGenerator[SendEvent, None]:
        sid = validation.session_id(session_id)
        seq = validation.non_negative(reply_seq, "reply_seq")
        offset = validation.non_negative(after_offset, "after_offset")
        name, stored = await self._find(principal.owner, sid, seq)
        reply = stored.reply
        if not replies.in_progress(reply):
            _check_within(offset, reply.content)
            for event in replayed(name, stored.prompt, reply):
                if isinstance(event, Delta):
                    event = Delta(reply.content[offset:], event.end_offset)
                    if not event.text:
                        continue
                yield event
            return
        yield Started(stored.prompt, name, reply.seq)
        key = (principal.owner, sid, reply.seq)
        if (generation := self._generations.get(key)) is not None:
            follow = self._follow_here(generation, offset)
        else:
            follow = self._follow_stored(key, offset)
        async for event in follow:
            yield event

    async def cancel(
        self, principal: Principal, session_id: str, reply_seq: int
    ) -> tuple[Message, bool]:
        """The reply as finally stored, and whether this call stopped it."""
        sid = validation.session_id(session_id)
        seq = validation.non_negative(reply_seq, "reply_seq")
        _, stored = await self._find(principal.owner, sid, seq)
        if not replies.in_progress(stored.reply):
            return stored.reply, False
        key = (principal.owner, sid, stored.reply.seq)
        if (generation := self._generations.get(key)) is not None:
            generation.stop(StopReason.CANCELLED)
            await generation.wait_ended()
            if generation.stored is None:
                raise ReplyNotFound()
            return generation.stored, generation.stored.status is MessageStatus.INCOMPLETE
        with self._generations.waiting(key) as wake:
            # Listening is committed first, on its own: it takes the reply's lock
            # before the session row, the order a flush takes them in reverse.
            await self._listen(key)
            async with self._store.scope(principal.owner) as scope:
                await replies.cancel(scope, sid, key[2])
            async for stands in self._changes(key, wake, None):
                if not replies.in_progress(stands.reply):
                    return stands.reply, stands.reply.status is MessageStatus.INCOMPLETE
        raise AssertionError("a reply's changes end once it has")

    async def _find(self, owner: str, sid: uuid.UUID, seq: int) -> tuple[str, Stored]:
        """The session's name and reply `seq` (0 = the newest), settled first if its
        process died."""
        async with self._store.scope(owner) as scope:
            session = await session_rows.get(scope, sid)
            await replies.settle(scope, sid)
            stored = await replies.find(scope, sid, seq)
        if stored is None:
            raise ReplyNotFound()
        return session.name, stored

    async def _follow_here(
        self, generation: Generation, offset: int
    ) -> AsyncGenerator[SendEvent, None]:
        async for piece in generation.follow(offset):
            yield Delta(piece.text, piece.end_offset)
        if isinstance(generation.error, ShuttingDown):
            raise generation.error
        if generation.stored is None:
            raise ReplyNotFound("the reply ended before any text and was not kept")
        _check_within(offset, generation.stored.content)
        yield Completed(generation.stored)

    async def _follow_stored(self, key: Key, offset: int) -> AsyncGenerator[SendEvent, None]:
        with self._generations.waiting(key) as wake:
            await self._listen(key)
            async for stands in self._changes(key, wake, offset):
                reply = stands.reply
                if not replies.in_progress(reply):
                    _check_within(offset, reply.content)
                    if tail := reply.content[offset:]:
                        yield Delta(tail, len(reply.content))
                    yield Completed(reply)
                    return
                for start, text in stands.pieces:
                    cut = text[max(0, offset - start) :]
                    offset = start + len(text)
                    yield Delta(cut, offset)

    async def _listen(self, key: Key) -> None:
        """Registers for the reply's notifications (committed before the first read)."""
        owner, sid, seq = key
        async with self._store.scope(owner) as scope:
            await replies.listen(scope, sid, seq, LISTEN_SECONDS)

    async def _changes(
        self, key: Key, wake: Subscription, offset: int | None
    ) -> AsyncGenerator[replies.Progress, None]:
        """Where reply `key` stands, again each time it changes, until it has ended
        (with its pieces past `offset`, which follows what was given). Renews the
        registration that makes its writer notify."""
        owner, sid, seq = key
        renew_at = time.monotonic() + LISTEN_SECONDS / 3
        while True:
            if time.monotonic() >= renew_at:
                await self._listen(key)
                renew_at = time.monotonic() + LISTEN_SECONDS / 3
            async with self._store.scope(owner) as scope:
                await replies.settle(scope, sid)
                stands = await replies.progress(scope, sid, seq, offset)
            if stands is None:
                raise ReplyNotFound("the reply ended before any text and was not kept")
            yield stands
            if not replies.in_progress(stands.reply):
                return
            if offset is not None and stands.pieces:
                start, text = stands.pieces[-1]
                offset = start + len(text)
            await wake.wait(RECHECK_SECONDS)


def _check_within(offset: int, text: str) -> None:
    if offset > len(text):
        raise InvalidArgument.field("after_offset", "is past the end of the reply")
