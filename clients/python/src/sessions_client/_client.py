"""`SessionsClient`: typed async calls to the sessions.v1 service.

Each method returns the contract's own messages (`pb.Session`, `pb.GetResponse`,
...) and raises a `SessionsError` subclass carrying the server's ErrorInfo reason.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import grpc

from sessions_client._channel import Connection, Credentials, Identity
from sessions_client._errors import Internal, from_rpc_error
from sessions_client._generated.sessions.v1 import sessions_pb2 as pb
from sessions_client._generated.sessions.v1 import sessions_pb2_grpc as pb_grpc

T = TypeVar("T")


class _Default(enum.Enum):
    TIMEOUT = enum.auto()


DEFAULT = _Default.TIMEOUT
"""Stands for "the client's default deadline" where a method takes `timeout`."""

Timeout = float | None | Literal[_Default.TIMEOUT]


class SessionsClient:
    """An async client of the sessions.v1 service.

    `address` is `host:port`. `tls` is off by default; `True` uses the system's
    roots, or pass `grpc.ssl_channel_credentials(...)` (mTLS included). `token` is
    sent as `authorization: Bearer`; `owner` / `actor` as the development-mode
    metadata. `timeout` is the deadline of every unary call and `send_timeout`
    that of a whole Send stream, in seconds (`None` = no deadline); each method's
    `timeout` overrides them. Watch has no deadline unless given one.

    Use it as `async with SessionsClient(...) as client:` or call `close()`.
    """

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        tls: Credentials = None,
        owner: str | None = None,
        actor: str | None = None,
        timeout: float | None = 30.0,
        send_timeout: float | None = 600.0,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self._connection = Connection(address, tls, options)
        self._owns_connection = True
        self._identity = Identity(token=token, owner=owner, actor=actor)
        self.timeout = timeout
        self.send_timeout = send_timeout

    def with_identity(
        self, *, token: str | None = None, owner: str | None = None, actor: str | None = None
    ) -> SessionsClient:
        """A client on the same channel calling as someone else; closing it closes nothing.

        What is not given is kept: `client.with_identity(actor="agent")` is the same
        caller acting as an agent.
        """
        view = object.__new__(SessionsClient)
        view._connection = self._connection
        view._owns_connection = False
        view._identity = Identity(
            token=token or self._identity.token,
            owner=owner or self._identity.owner,
            actor=actor or self._identity.actor,
        )
        view.timeout = self.timeout
        view.send_timeout = self.send_timeout
        return view

    @property
    def address(self) -> str:
        return self._connection.address

    async def close(self) -> None:
        if self._owns_connection:
            await self._connection.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def _stub(self) -> pb_grpc.SessionServiceAsyncStub:
        return pb_grpc.SessionServiceStub(self._connection.channel)

    def _deadline(self, timeout: Timeout, default: float | None) -> float | None:
        return default if timeout is DEFAULT else timeout

    async def _unary(self, call: Callable[..., Awaitable[T]], request: Any, timeout: Timeout) -> T:
        try:
            return await call(
                request,
                metadata=self._identity.metadata(),
                timeout=self._deadline(timeout, self.timeout),
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from error

    async def _stream(
        self,
        method: Callable[
            [pb_grpc.SessionServiceAsyncStub], grpc.aio.UnaryStreamMultiCallable[Any, T]
        ],
        request: Any,
        timeout: float | None,
    ) -> AsyncGenerator[T, None]:
        """A server stream's responses, opened at the first read; errors as `SessionsError`.

        The call is cancelled whenever the reader stops, early or not.
        """
        call = method(self._stub)(request, metadata=self._identity.metadata(), timeout=timeout)
        try:
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from error
        finally:
            call.cancel()

    async def create(
        self,
        name: str,
        model: str,
        *,
        system_prompt: str = "",
        labels: Mapping[str, str] | None = None,
        request_id: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> pb.Session:
        """Creates a session; a repeat with the same `request_id` returns the same one."""
        request = pb.CreateRequest(
            name=name,
            model=model,
            system_prompt=system_prompt,
            labels=labels,
            request_id=request_id or str(uuid.uuid4()),
        )
        response = await self._unary(self._stub.Create, request, timeout)
        return response.session

    async def get(
        self,
        session_id: str,
        *,
        messages_limit: int = 0,
        before_seq: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> pb.GetResponse:
        """The session and its newest `messages_limit` messages (older than `before_seq`)."""
        request = pb.GetRequest(
            session_id=session_id, messages_limit=messages_limit, before_seq=before_seq
        )
        return await self._unary(self._stub.Get, request, timeout)

    async def list(
        self,
        *,
        query: str = "",
        page_size: int = 0,
        page_token: str = "",
        archived: pb.ArchivedFilter.ValueType = pb.ARCHIVED_FILTER_UNSPECIFIED,
        starred_only: bool = False,
        timeout: Timeout = DEFAULT,
    ) -> pb.ListResponse:
        """One page of the caller's sessions, most recently active first."""
        request = pb.ListRequest(
            query=query,
            page_size=page_size,
            page_token=page_token,
            archived=archived,
            starred_only=starred_only,
        )
        return await self._unary(self._stub.List, request, timeout)

    async def list_all(
        self,
        *,
        query: str = "",
        page_size: int = 0,
        archived: pb.ArchivedFilter.ValueType = pb.ARCHIVED_FILTER_UNSPECIFIED,
        starred_only: bool = False,
        timeout: Timeout = DEFAULT,
    ) -> AsyncGenerator[pb.Session, None]:
        """Every matching session, fetching page after page as the caller iterates."""
        page_token = ""
        while True:
            page = await self.list(
                query=query,
                page_size=page_size,
                page_token=page_token,
                archived=archived,
                starred_only=starred_only,
                timeout=timeout,
            )
            for session in page.sessions:
                yield session
            if not page.next_page_token:
                return
            page_token = page.next_page_token

    async def manage(
        self, request: pb.ManageRequest, *, timeout: Timeout = DEFAULT
    ) -> pb.ManageResponse:
        """Applies the request's one action; the helpers below build the request."""
        return await self._unary(self._stub.Manage, request, timeout)

    async def rename(
        self, session_id: str, name: str, *, current_session_id: str = ""
    ) -> pb.ManageResponse:
        return await self.manage(
            pb.ManageRequest(
                session_id=session_id,
                current_session_id=current_session_id,
                rename=pb.Rename(name=name),
            )
        )

    async def archive(self, session_id: str, *, current_session_id: str = "") -> pb.ManageResponse:
        return await self.manage(
            pb.ManageRequest(
                session_id=session_id, current_session_id=current_session_id, archive=pb.Archive()
            )
        )

    async def unarchive(
        self, session_id: str, *, current_session_id: str = ""
    ) -> pb.ManageResponse:
        return await self.manage(
            pb.ManageRequest(
                session_id=session_id,
                current_session_id=current_session_id,
                unarchive=pb.Unarchive(),
            )
        )

    async def star(self, session_id: str, *, current_session_id: str = "") -> pb.ManageResponse:
        return await self.manage(
            pb.ManageRequest(
                session_id=session_id, current_session_id=current_session_id, star=pb.Star()
            )
        )

    async def unstar(self, session_id: str, *, current_session_id: str = "") -> pb.ManageResponse:
        return await self.manage(
            pb.ManageRequest(
                session_id=session_id, current_session_id=current_session_id, unstar=pb.Unstar()
            )
        )

    async def delete(self, session_id: str, *, current_session_id: str = "") -> pb.ManageResponse:
        """Deletes the session for good (refused when starred or current)."""
        return await self.manage(
            pb.ManageRequest(
                session_id=session_id, current_session_id=current_session_id, delete=pb.Delete()
            )
        )

    async def truncate(
        self, session_id: str, keep_last: int | None = None, *, current_session_id: str = ""
    ) -> pb.ManageResponse:
        """Keeps the newest `keep_last` messages (the server's default, 10, when None)."""
        return await self.manage(
            pb.ManageRequest(
                session_id=session_id,
                current_session_id=current_session_id,
                truncate=pb.Truncate(keep_last=keep_last),
            )
        )

    async def fork(
        self,
        session_id: str,
        *,
        keep_first: int | None = None,
        name: str = "",
        current_session_id: str = "",
    ) -> pb.ManageResponse:
        """Copies the oldest `keep_first` messages (all when None) into a new session."""
        return await self.manage(
            pb.ManageRequest(
                session_id=session_id,
                current_session_id=current_session_id,
                fork=pb.Fork(keep_first=keep_first, name=name),
            )
        )

    def send(
        self,
        session_id: str,
        content: str,
        *,
        request_id: str | None = None,
        detach: bool = False,
        timeout: Timeout = DEFAULT,
    ) -> AsyncGenerator[pb.SendResponse, None]:
        """Sends a message and yields the events of the reply: started, deltas, completed.

        Leaving the loop early cancels the call: the server keeps the partial reply as
        INCOMPLETE, or with `detach` goes on generating it (pick it up again with
        `attach(session_id, reply_seq=started.reply_seq, after_offset=<last
        delta.end_offset>)`, stop it with `cancel`). Close the iterator
        (`contextlib.aclosing`) to leave at once.
        """
        request = pb.SendRequest(
            session_id=session_id,
            content=content,
            request_id=request_id or str(uuid.uuid4()),
            detach=detach,
        )
        return self._stream(
            lambda stub: stub.Send, request, self._deadline(timeout, self.send_timeout)
        )

    async def send_text(
        self,
        session_id: str,
        content: str,
        *,
        request_id: str | None = None,
        on_delta: Callable[[str], object] | None = None,
        detach: bool = False,
        timeout: Timeout = DEFAULT,
    ) -> pb.Message:
        """Sends a message and returns the stored assistant reply once it is complete.

        `on_delta` sees each piece of the reply as it arrives; with `detach`, a caller
        cancelled meanwhile leaves the reply going on the server, as with `send`.
        """
        events = self.send(
            session_id, content, request_id=request_id, detach=detach, timeout=timeout
        )
        try:
            async for event in events:
                if event.HasField("delta") and on_delta is not None:
                    on_delta(event.delta.text)
                elif event.HasField("completed"):
                    return event.completed.assistant_message
        finally:
            await events.aclose()
        raise Internal(
            "the reply stream ended without a completed event", code=grpc.StatusCode.INTERNAL
        )

    def attach(
        self,
        session_id: str,
        *,
        reply_seq: int = 0,
        after_offset: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> AsyncGenerator[pb.SendResponse, None]:
        """Yields a reply's events as Send does, from `after_offset` on.

        `reply_seq` 0 is the session's newest reply; `after_offset` is the last
        `delta.end_offset` already received (0 = the whole text). A reply that has
        ended is replayed (`completed.replayed`); one in progress streams live until
        it ends. Leaving the loop leaves the reply going; `cancel` stops it.
        """
        request = pb.AttachRequest(
            session_id=session_id, reply_seq=reply_seq, after_offset=after_offset
        )
        return self._stream(
            lambda stub: stub.Attach, request, self._deadline(timeout, self.send_timeout)
        )

    async def cancel(
        self, session_id: str, *, reply_seq: int = 0, timeout: Timeout = DEFAULT
    ) -> pb.CancelResponse:
        """Stops a reply being generated and returns it as stored (INCOMPLETE).

        `reply_seq` 0 is the reply in progress. A reply that had already ended comes
        back unchanged with `cancelled` false; no reply at all is NotFound
        `REPLY_NOT_FOUND`.
        """
        request = pb.CancelRequest(session_id=session_id, reply_seq=reply_seq)
        return await self._unary(self._stub.Cancel, request, timeout)

    def watch(
        self, *, after_event_id: int = 0, timeout: float | None = None
    ) -> AsyncGenerator[pb.WatchResponse, None]:
        """Yields changes to the caller's sessions as they happen, until closed.

        Resume after a disconnect with `after_event_id` = the last `event_id` seen.
        """
        return self._stream(
            lambda stub: stub.Watch, pb.WatchRequest(after_event_id=after_event_id), timeout
        )
