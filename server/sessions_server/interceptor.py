"""The server interceptor around every SessionService call.

It authenticates the caller before the handler runs (a refused call never reaches
it), sets the principal for the whole call, turns whatever the handler raises into
a status through `rpc_errors`, and counts the call in the metrics. One wrapper per
call keeps the streaming path to a single extra generator hop.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from sessions_server.auth import Authenticator, Metadata, principal_var
from sessions_server.errors import ServiceError
from sessions_server.metrics import Metrics
from sessions_server.rpc_errors import abort_unexpected, abort_with

# Health checks and reflection are open to anyone who can reach the port.
OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context = grpc.aio.ServicerContext[Any, Any]


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
                started, code = time.perf_counter(), "OK"
                try:
                    principal_var.set(authenticate(metadata))
                    return await unary(request, context)
                except ServiceError as error:
                    code = error.code
                    await abort_with(context, error)
                except (grpc.aio.AbortError, asyncio.CancelledError):
                    code = "CANCELLED"
                    raise
                except Exception:
                    code = "INTERNAL"
                    await abort_unexpected(context, method)
                finally:
                    metrics.rpc_done(method, code, started)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            stream: Any = handler.unary_stream

            async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
                started, code = time.perf_counter(), "OK"
                try:
                    with metrics.stream_open(method):
                        principal_var.set(authenticate(metadata))
                        async for response in stream(request, context):
                            yield response
                except ServiceError as error:
                    code = error.code
                    await abort_with(context, error)
                except (grpc.aio.AbortError, asyncio.CancelledError):
                    code = "CANCELLED"
                    raise
                except Exception:
                    code = "INTERNAL"
                    await abort_unexpected(context, method)
                finally:
                    metrics.rpc_done(method, code, started)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer
            )
        raise TypeError(f"{method}: only unary-unary and unary-stream methods are served")
