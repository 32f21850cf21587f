"""Watch across replicas: a change made on one process reaches watchers on another."""

import asyncio
import time

import grpc
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.fixtures_replicas import Replicas
from tests.support.rpc import retried
from tests.support.watching import Watcher


async def test_create_on_a_reaches_watcher_on_b_within_a_second(
    replicas: Replicas, owner: Owner
) -> None:
    watcher = await Watcher.open(replicas.b.stub, owner.md)
    try:
        created = await replicas.a.stub.Create(
            pb.CreateRequest(name="on A", model="m"), metadata=owner.md
        )
        started = time.monotonic()
        event = await watcher.next(within=1.0)
        assert time.monotonic() - started < 1.0
        assert event.type == pb.EVENT_TYPE_CREATED
        assert event.session == created.session
        assert event.event_id > 0
    finally:
        await watcher.close()


async def test_watchers_on_both_replicas_see_the_same_events_in_order(
    replicas: Replicas, owner: Owner
) -> None:
    on_a = await Watcher.open(replicas.a.stub, owner.md)
    on_b = await Watcher.open(replicas.b.stub, owner.md)
    try:
        for index in range(4):
            replica = replicas.a if index % 2 else replicas.b
            await replica.stub.Create(
                pb.CreateRequest(name=f"s{index}", model="m"), metadata=owner.md
            )
        seen_a = [(e.event_id, e.session.name) for e in await on_a.take(4)]
        seen_b = [(e.event_id, e.session.name) for e in await on_b.take(4)]
        assert seen_a == seen_b
        assert [name for _, name in seen_a] == ["s0", "s1", "s2", "s3"]
        assert [i for i, _ in seen_a] == sorted(i for i, _ in seen_a)
    finally:
        await on_a.close()
        await on_b.close()


async def test_same_request_id_on_both_replicas_at_once_creates_one_session(
    replicas: Replicas, owner: Owner
) -> None:
    watcher = await Watcher.open(replicas.a.stub, owner.md)
    try:
        request = pb.CreateRequest(name="once", model="m", request_id="create-once")

        async def create(stub: Stub) -> pb.CreateResponse:
            # The loser of the race may be told the first call is still running:
            # it asks again, as the Python client does by itself.
            return await retried(
                lambda: stub.Create(request, metadata=owner.md),
                (grpc.StatusCode.ABORTED, "REQUEST_IN_PROGRESS"),
                seconds=5.0,
                interval=0.01,
            )

        first, second = await asyncio.gather(create(replicas.a.stub), create(replicas.b.stub))
        assert first.session.id == second.session.id
        listed = await replicas.b.stub.List(pb.ListRequest(), metadata=owner.md)
        assert [s.id for s in listed.sessions] == [first.session.id]
        # One CREATED event: the loser's was rolled back with its session. The
        # next event is the rename, not a second CREATED.
        await replicas.b.stub.Manage(
            pb.ManageRequest(session_id=first.session.id, rename=pb.Rename(name="renamed")),
            metadata=owner.md,
        )
        created, renamed = await watcher.take(2)
        assert (created.type, created.session.id) == (pb.EVENT_TYPE_CREATED, first.session.id)
        assert renamed.type == pb.EVENT_TYPE_UPDATED
    finally:
        await watcher.close()
