"""The gRPC servicer: converts requests to domain calls and results to responses.

No SQL and no HTTP here. Domain errors propagate as exceptions and become statuses
in `interceptor` / `rpc_errors`; the principal comes from `auth.current_principal`.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import grpc
from sessions_client import pb, pb_grpc

from sessions_server import convert
from sessions_server.attach import AttachOperations
from sessions_server.auth import current_principal
from sessions_server.endpoints import Registry
from sessions_server.manage import ManageOperations
from sessions_server.operations import CreateInput, SessionOperations
from sessions_server.send import SendInput, SendOperations
from sessions_server.watch import WatchOperations

Context = grpc.aio.ServicerContext[Any, Any]


class SessionService(pb_grpc.SessionServiceServicer):
    def __init__(
        self,
        sessions: SessionOperations,
        manage: ManageOperations,
        send: SendOperations,
        attach: AttachOperations,
        watch: WatchOperations,
        registry: Registry,
    ) -> None:
        self._sessions = sessions
        self._manage = manage
        self._send = send
        self._attach = attach
        self._watch = watch
        self._registry = registry

    async def Create(self, request: pb.CreateRequest, context: Context) -> pb.CreateResponse:
        session = await self._sessions.create(
            current_principal(),
            CreateInput(
                name=request.name,
                model=request.model,
                system_prompt=request.system_prompt,
                labels=dict(request.labels),
                request_id=request.request_id,
            ),
        )
        return pb.CreateResponse(session=convert.session(session, self._registry))

    async def Get(self, request: pb.GetRequest, context: Context) -> pb.GetResponse:
        session, messages, has_more = await self._sessions.get(
            current_principal(), request.session_id, request.messages_limit, request.before_seq
        )
        return pb.GetResponse(
            session=convert.session(session, self._registry),
            messages=[convert.message(m) for m in messages],
            has_more=has_more,
        )

    async def List(self, request: pb.ListRequest, context: Context) -> pb.ListResponse:
        page = await self._sessions.list(
            current_principal(),
            convert.list_query(request),
            request.page_size,
            request.page_token,
        )
        return pb.ListResponse(
            sessions=[convert.session(s, self._registry) for s in page.sessions],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def Manage(self, request: pb.ManageRequest, context: Context) -> pb.ManageResponse:
        result = await self._manage.manage(
            current_principal(),
            request.session_id,
            request.current_session_id,
            convert.manage_action(request),
        )
        return pb.ManageResponse(
            session=convert.session(result.session, self._registry),
            messages_removed=result.messages_removed,
            messages_copied=result.messages_copied,
            deleted=result.deleted,
        )

    async def Send(  # type: ignore[override]
        self, request: pb.SendRequest, context: Context
    ) -> AsyncIterator[pb.SendResponse]:
        remaining = context.time_remaining()
        deadline = None if remaining is None else asyncio.get_running_loop().time() + remaining
        events = self._send.send(
            current_principal(),
            SendInput(request.session_id, request.content, request.request_id, request.detach),
            deadline,
        )
        async with aclosing(events):
            async for event in events:
                yield convert.send_response(event)

    async def Attach(  # type: ignore[override]
        self, request: pb.AttachRequest, context: Context
    ) -> AsyncIterator[pb.SendResponse]:
        events = self._attach.attach(
            current_principal(), request.session_id, request.reply_seq, request.after_offset
        )
        async with aclosing(events):
            async for event in events:
                yield convert.send_response(event)

    async def Cancel(self, request: pb.CancelRequest, context: Context) -> pb.CancelResponse:
        reply, cancelled = await self._attach.cancel(
            current_principal(), request.session_id, request.reply_seq
        )
        return pb.CancelResponse(assistant_message=convert.message(reply), cancelled=cancelled)

    async def Watch(  # type: ignore[override]
        self, request: pb.WatchRequest, context: Context
    ) -> AsyncIterator[pb.WatchResponse]:
        async with self._watch.open(current_principal(), request.after_event_id) as events:
            # Headers now tell the caller that the watch is established: every
            # event committed from here on reaches it.
            await context.send_initial_metadata(())
            async for event in events:
                yield convert.event(event, self._registry)
