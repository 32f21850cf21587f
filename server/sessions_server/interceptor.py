"""The server interceptor around every SessionService call.

It authenticates the caller before the handler runs (a refused call never reaches
it), sets the principal for the whole call, turns whatever the handler raises into
a status through `rpc_errors`, and counts the call in the metrics. One wrapper per
call keeps the streaming path to a single extra generator hop.

Request bytes that do not parse (invalid UTF-8 in a string, a corrupt wire format)
would otherwise fail inside gRPC as UNKNOWN with the parser's text; they are parsed
leniently here and refused as INVALID_ARGUMENT once the caller is authenticated.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError

from sessions_server.auth import Authenticator, Metadata, principal_var
from sessions_server.errors import MalformedRequest, ServiceError
from sessions_server.metrics import Metrics
from sessions_server.rpc_errors import abort_unexpected, abort_with

# Health checks and reflection are open to anyone who can reach the port.
OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context = grpc.aio.ServicerContext[Any, Any]
Deserializer: TypeAlias = Callable[[bytes], Any]

# Stands in for a request whose bytes did not parse.
UNPARSABLE = object()


def _lenient(deserializer: Deserializer | None) -> Deserializer | None:
    if deserializer is None:
        return None
    parse = deserializer

    def lenient(raw: bytes) -> Any:
        try:
            return parse(raw)
        except DecodeError:
            return UNPARSABLE

    return lenient


def _checked(request: Any) -> Any:
    if request is UNPARSABLE:
        raise MalformedRequest()
    return request


class CallInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, authenticator: Authenticator, metrics: Metrics) -> None:
        self._authenticator = authenticator
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        metadata: Metadata = handler_call_details.invocation_metadata or ()
        return self._wrap(handler, method.rsplit("/", 1)[-1], metadata)

    def _wrap(self, handler: Handler, method: str, metadata: Metadata) -> Handler:
        authenticate = self._authenticator.authenticate
        metrics = self._metrics

        if handler.unary_unary is not None:
            unary: Any = handler.unary_unary

            async def unary_unary(request: Any, context: Context) -> Any:
                async with _Outcome(method, context, metrics):
                    principal_var.set(authenticate(metadata))
                    return await unary(_checked(request), context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, _lenient(handler.request_deserializer), handler.response_serializer
            )
        if handler.unary_stream is not None:
            stream: Any = handler.unary_stream

            async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
                async with _Outcome(method, context, metrics):
                    with metrics.stream_open(method):
                        principal_var.set(authenticate(metadata))
                        async for response in stream(_checked(request), context):
                            yield response

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, _lenient(handler.request_deserializer), handler.response_serializer
            )
        raise TypeError(f"{method}: only unary-unary and unary-stream methods are served")


class _Outcome:
    """Around one call: turns what its handler raised into the call's status, and
    counts the call by method and code."""

    __slots__ = ("_context", "_method", "_metrics", "_started")

    def __init__(self, method: str, context: Context, metrics: Metrics) -> None:
        self._method = method
        self._context = context
        self._metrics = metrics
        self._started = time.perf_counter()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        failure: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        code = "OK"
        try:
            if isinstance(failure, ServiceError):
                code = failure.code
                await abort_with(self._context, failure)
            elif isinstance(failure, grpc.aio.AbortError | asyncio.CancelledError | GeneratorExit):
                code = "CANCELLED"
            elif isinstance(failure, Exception):
                code = "INTERNAL"
                await abort_unexpected(self._context, self._method, failure)
        finally:
            self._metrics.rpc_done(self._method, code, self._started)
