"""The composition root: builds the server and everything it depends on."""

import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sessions_client import pb, pb_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from sessions_server import database
from sessions_server.auth import Authenticator, InsecureAuthenticator
from sessions_server.config import LOOPBACK_HOSTS, Settings, listen_host
from sessions_server.endpoints import Registry
from sessions_server.interceptor import CallInterceptor
from sessions_server.manage import ManageOperations
from sessions_server.metrics import Metrics
from sessions_server.operations import SessionOperations
from sessions_server.send import SendLimits, SendOperations
from sessions_server.service import SessionService
from sessions_server.store import Store
from sessions_server.upstream import Timeouts, Upstream

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SessionService"].full_name


@dataclass
class App:
    """A built server and what must be closed with it."""

    server: grpc.aio.Server
    port: int
    engine: AsyncEngine
    health: health_aio.HealthServicer
    metrics: Metrics
    metrics_port: int | None
    upstream: Upstream
    sends: SendOperations

    async def stop(self, grace: float | None) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.sends.aclose()
        await self.upstream.aclose()
        await self.engine.dispose()
        self.metrics.close()


class MigrationsPending(RuntimeError):
    pass


def authenticator(settings: Settings) -> Authenticator:
    mode = settings.auth_mode()
    if mode == "insecure":
        if listen_host(settings.listen) not in LOOPBACK_HOSTS:
            raise ValueError("SESSIONS_AUTH=insecure is only allowed on a loopback address")
        log.warning("authentication is off: x-owner / x-actor metadata are trusted as sent")
        return InsecureAuthenticator()
    raise ValueError("SESSIONS_AUTH=jwt is not available yet")


async def build_server(settings: Settings, database_url: str) -> App:
    """A started server on `settings.listen` over the database at `database_url`."""
    auth = authenticator(settings)
    engine = database.create_engine(database_url, settings)
    if await database.pending_migrations(engine):
        await engine.dispose()
        raise MigrationsPending("the database schema is behind: run `sessions-server migrate`")
    registry = Registry.from_file(settings.endpoints_file)
    store = Store(engine)
    upstream = _upstream(settings)
    sends = SendOperations(store, registry, upstream, _send_limits(settings))
    service = SessionService(
        SessionOperations(store, registry), ManageOperations(store), sends, registry
    )

    metrics = Metrics()
    server = grpc.aio.server(
        interceptors=[CallInterceptor(auth, metrics)],
        options=[
            ("grpc.max_receive_message_length", settings.max_receive_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    pb_grpc.add_SessionServiceServicer_to_server(service, server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(settings.listen)
    await server.start()
    await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    log.info("serving %s on port %d", SERVICE_NAME, port)
    metrics_port = None
    if settings.metrics_port:
        metrics_port = metrics.serve(
            settings.metrics_port, listen_host(settings.listen).strip("[]")
        )
        log.info("metrics on port %d", metrics_port)
    return App(server, port, engine, health_servicer, metrics, metrics_port, upstream, sends)


def _upstream(settings: Settings) -> Upstream:
    timeouts = Timeouts(
        connect=settings.upstream_connect_timeout,
        first_token=settings.upstream_first_token_timeout,
        idle=settings.upstream_idle_timeout,
        total=settings.upstream_total_timeout,
    )
    return Upstream(timeouts, settings.upstream_retry_delay, settings.upstream_transport)


def _send_limits(settings: Settings) -> SendLimits:
    return SendLimits(
        max_message_bytes=settings.max_message_bytes,
        lease_seconds=settings.lease_seconds,
        context_max_messages=settings.context_max_messages,
        context_max_bytes=settings.context_max_bytes,
        max_concurrent_sends=settings.max_concurrent_sends_per_owner,
        longest_reply=settings.upstream_total_timeout + settings.lease_seconds,
    )
