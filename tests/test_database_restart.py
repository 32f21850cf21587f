"""A restart of PostgreSQL under a running server: calls made while it is down are
UNAVAILABLE `DATABASE_UNAVAILABLE` (never INTERNAL), nothing committed is lost, and
the server serves again once the database is back, without being restarted."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import grpc
import pytest
from sessions_client import pb, pb_grpc
from sessions_server import database
from sessions_server.app import App, build_server
from sessions_server.config import Settings

from tests.conftest import Owner, Stub
from tests.support.cluster import Cluster, throwaway_cluster
from tests.support.database import asyncpg_url
from tests.support.rpc import reason, retried

UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    with throwaway_cluster() as cluster:
        await asyncio.to_thread(database.migrate, cluster.url)
        yield cluster


@pytest.fixture
async def served(cluster: Cluster, settings: Settings) -> AsyncIterator[Stub]:
    app: App = await build_server(
        settings.model_copy(update={"database_url": cluster.url}), cluster.url
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        yield pb_grpc.SessionServiceStub(channel)
    await app.stop(None)


def _get(stub: Stub, owner: Owner, session_id: str) -> Callable[[], Awaitable[pb.GetResponse]]:
    request = pb.GetRequest(session_id=session_id, messages_limit=10)
    return lambda: stub.Get(request, metadata=owner.md)


def _send(
    stub: Stub, owner: Owner, session_id: str, content: str
) -> Callable[[], Awaitable[list[pb.SendResponse]]]:
    request = pb.SendRequest(session_id=session_id, content=content, request_id=content)

    async def send() -> list[pb.SendResponse]:
        return [response async for response in stub.Send(request, metadata=owner.md)]

    return send


async def test_calls_during_a_database_restart_are_unavailable_and_nothing_is_lost(
    served: Stub, cluster: Cluster, owner: Owner
) -> None:
    created = await served.Create(pb.CreateRequest(name="kept", model="m"), metadata=owner.md)
    await served.Send(
        pb.SendRequest(session_id=created.session.id, content="remember this"),
        metadata=owner.md,
    ).read()  # `started`: the user message is committed

    await asyncio.to_thread(cluster.stop)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await served.Create(pb.CreateRequest(name="lost", model="m"), metadata=owner.md)
    assert reason(raised.value) == UNAVAILABLE
    await asyncio.to_thread(cluster.start)

    got = await retried(_get(served, owner, created.session.id), UNAVAILABLE)
    assert got.session.name == "kept"
    assert got.messages[0].content == "remember this"
    listed = await served.List(pb.ListRequest(), metadata=owner.md)
    assert [s.name for s in listed.sessions] == ["kept"]


async def test_send_while_the_database_is_down_is_unavailable_then_works_once_it_is_back(
    served: Stub, cluster: Cluster, owner: Owner
) -> None:
    created = await served.Create(pb.CreateRequest(name="chat", model="m"), metadata=owner.md)
    session_id = created.session.id
    await asyncio.to_thread(cluster.stop)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _send(served, owner, session_id, "while it is down")()
    assert reason(raised.value) == UNAVAILABLE

    await asyncio.to_thread(cluster.start)
    # Send's pooled connections died with the database: each fails once, is dropped,
    # and a new one is opened.
    responses = await retried(_send(served, owner, session_id, "once it is back"), UNAVAILABLE)
    assert responses[-1].completed.assistant_message.content == "once it is back"
    got = await retried(_get(served, owner, session_id), UNAVAILABLE)
    assert [m.content for m in got.messages] == ["once it is back", "once it is back"]


async def test_calls_while_the_database_refuses_connections_are_unavailable(
    served: Stub, cluster: Cluster, owner: Owner
) -> None:
    """As during crash recovery ("the database system is starting up", 57P03): every
    RPC, Send included, is UNAVAILABLE DATABASE_UNAVAILABLE, never INTERNAL."""
    created = await served.Create(pb.CreateRequest(name="chat", model="m"), metadata=owner.md)
    session_id = created.session.id
    await asyncio.to_thread(cluster.stop, "immediate")
    await asyncio.to_thread(cluster.start, refusing=True)
    await _until_it_refuses(cluster)

    calls: list[Callable[[], Awaitable[object]]] = [
        _send(served, owner, session_id, "while it refuses"),
        _get(served, owner, session_id),
        lambda: served.Create(pb.CreateRequest(name="new", model="m"), metadata=owner.md),
        lambda: served.List(pb.ListRequest(), metadata=owner.md),
        lambda: served.Manage(
            pb.ManageRequest(session_id=session_id, star=pb.Star()), metadata=owner.md
        ),
    ]
    for _ in range(3):  # each pooled connection is found dead once, then none can be made
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call()
            assert reason(raised.value) == UNAVAILABLE

    await asyncio.to_thread(cluster.stop)
    await asyncio.to_thread(cluster.start)
    responses = await retried(_send(served, owner, session_id, "once it is back"), UNAVAILABLE)
    assert responses[-1].completed.assistant_message.content == "once it is back"


async def _until_it_refuses(cluster: Cluster) -> None:
    """Until the server is up and answers connections with 57P03."""
    for _ in range(100):
        try:
            connection = await asyncpg.connect(asyncpg_url(cluster.url))
        except asyncpg.CannotConnectNowError:
            return
        except OSError:
            await asyncio.sleep(0.05)
            continue
        await connection.close()
        raise AssertionError("the database accepts connections")
    raise AssertionError("the database did not come up")


async def test_terminated_backends_are_unavailable_once_and_replaced(
    served: Stub, cluster: Cluster, owner: Owner
) -> None:
    created = await served.Create(pb.CreateRequest(name="chat", model="m"), metadata=owner.md)
    session_id = created.session.id
    admin = await asyncpg.connect(asyncpg_url(cluster.url))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'sessions-server'"
        )
    finally:
        await admin.close()
    outcomes: list[object] = []
    for attempt in range(10):
        try:
            await _send(served, owner, session_id, f"after the kill {attempt}")()
            outcomes.append("sent")
        except grpc.aio.AioRpcError as error:
            outcomes.append(reason(error))

    assert set(outcomes) <= {"sent", UNAVAILABLE}
    assert outcomes[-1] == "sent"
    got = await retried(_get(served, owner, session_id), UNAVAILABLE)
    assert got.session.message_count == 2 * outcomes.count("sent")
