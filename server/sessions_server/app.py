"""The composition root: builds the server and everything it depends on."""

import asyncio
import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sessions_client import pb, pb_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from sessions_server import database, transport
from sessions_server.attach import AttachOperations
from sessions_server.auth import Authenticator, InsecureAuthenticator, JwtAuthenticator
from sessions_server.config import LOOPBACK_HOSTS, Settings, listen_host, maintenance_role
from sessions_server.endpoints import Registry
from sessions_server.errors import ShuttingDown
from sessions_server.events import EventHub
from sessions_server.generation import Generations
from sessions_server.interceptor import CallInterceptor
from sessions_server.manage import ManageOperations
from sessions_server.metrics import Metrics
from sessions_server.operations import SessionOperations
from sessions_server.send import SendLimits, SendOperations
from sessions_server.service import SessionService
from sessions_server.store import Store
from sessions_server.store.replies import REPLY_CHANNEL
from sessions_server.upstream import Timeouts, Upstream
from sessions_server.watch import Pruner, WatchOperations

log = logging.getLogger(__name__)

STOP_MARGIN = 1.0
"""Seconds past the grace that calls get to send the status their stopped replies
ended with, before the server cancels them."""

WRITE_BACK_SECONDS = 2.0
"""Seconds past the grace (and its margin) that storing the stopped replies and
giving their leases back may take before it is abandoned."""
CLOSE_SECONDS = 1.0
"""Seconds each closing step (connections, listener, pools) may take."""

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
    generations: Generations
    events: EventHub
    pruner: Pruner

    async def stop(self, grace: float | None) -> bool:
        """Drains the server: health turns NOT_SERVING, new calls are refused, replies
        being generated get `grace` seconds (then they are stopped, stored, and their
        Sends told SHUTTING_DOWN), other calls a moment more (then they are
        cancelled). Bounded whatever the database does: True when every reply and
        lease was written back, False when some were abandoned."""
        await self.health.enter_graceful_shutdown()
        # Watchers and attachers of other replicas' replies have nothing to finish:
        # they end at once, UNAVAILABLE, and resume on another replica.
        self.events.end_watchers(ShuttingDown())
        self.generations.end_waiting(ShuttingDown())
        stopping = asyncio.create_task(
            self.server.stop(None if grace is None else grace + STOP_MARGIN)
        )
        clean = True
        try:
            async with asyncio.timeout((grace or 0) + STOP_MARGIN + WRITE_BACK_SECONDS):
                await self.sends.drain(grace)
        except TimeoutError:
            clean = False
            log.error("shutdown: replies and leases left unwritten were abandoned (no database)")
        await stopping
        for closing in (
            self.upstream.aclose(),
            self.events.close(),
            self.pruner.stop(),
            self.engine.dispose(),
        ):
            try:
                async with asyncio.timeout(CLOSE_SECONDS):
                    await closing
            except TimeoutError:
                log.warning("shutdown: a connection did not close in time; left to the exit")
        self.metrics.close()
        return clean


class MigrationsPending(RuntimeError):
    pass


def authenticator(settings: Settings) -> Authenticator:
    """The configured authenticator; refuses a configuration that would be unsafe."""
    if settings.auth_mode() == "jwt":
        return JwtAuthenticator.from_settings(settings)
    if listen_host(settings.listen) not in LOOPBACK_HOSTS:
        raise ValueError("SESSIONS_AUTH=insecure is only allowed on a loopback address")
    log.warning("authentication is off: x-owner / x-actor metadata are trusted as sent")
    return InsecureAuthenticator()


async def build_server(settings: Settings, database_url: str) -> App:
    """A started server on `settings.listen` over the database at `database_url`.

    Refuses (ValueError) an unsafe or incomplete identity or TLS configuration
    before touching the database.
    """
    auth = authenticator(settings)
    tls = transport.credentials(settings)
    if await database.pending_migrations(database_url, settings.database_connect_timeout):
        raise MigrationsPending("the database schema is behind: run `sessions-server migrate`")
    engine = database.create_engine(database_url, settings)
    if not await database.row_security_applies(engine):
        log.warning("row-level security does not apply: the database role bypasses it")
    registry = Registry.from_file(settings.endpoints_file)
    store = Store(engine)
    generations = Generations()
    events = EventHub(
        database_url, store, settings.database_connect_timeout, {REPLY_CHANNEL: generations}
    )
    await events.start()
    pruner = Pruner(
        database.create_engine(
            database_url, settings, role=maintenance_role(settings.database_role), pool_size=1
        ),
        settings.events_retention,
        settings.events_prune_interval,
    )
    pruner.start()
    metrics = Metrics()
    upstream = _upstream(settings, metrics)
    sends = SendOperations(store, registry, upstream, _send_limits(settings), generations)
    service = SessionService(
        SessionOperations(store, registry),
        ManageOperations(store),
        sends,
        AttachOperations(store, generations),
        WatchOperations(store, events),
        registry,
    )

    server = grpc.aio.server(
        interceptors=[CallInterceptor(auth, metrics)],
        options=transport.server_options(settings),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    pb_grpc.add_SessionServiceServicer_to_server(service, server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = transport.add_port(server, settings.listen, tls)
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
    return App(
        server=server,
        port=port,
        engine=engine,
        health=health_servicer,
        metrics=metrics,
        metrics_port=metrics_port,
        upstream=upstream,
        sends=sends,
        generations=generations,
        events=events,
        pruner=pruner,
    )


def _upstream(settings: Settings, metrics: Metrics) -> Upstream:
    timeouts = Timeouts(
        connect=settings.upstream_connect_timeout,
        first_token=settings.upstream_first_token_timeout,
        idle=settings.upstream_idle_timeout,
        total=settings.upstream_total_timeout,
    )
    return Upstream(timeouts, settings.upstream_retry_delay, metrics)


def _send_limits(settings: Settings) -> SendLimits:
    return SendLimits(
        max_message_bytes=settings.max_message_bytes,
        lease_seconds=settings.lease_seconds,
        context_max_messages=settings.context_max_messages,
        context_max_bytes=settings.context_max_bytes,
        max_concurrent_sends=settings.max_concurrent_sends_per_owner,
        longest_reply=settings.upstream_total_timeout + settings.lease_seconds,
        reply_flush=settings.reply_flush_ms / 1000,
    )
