"""Watch: every change to a session is an event for its owner, and only for them."""

import grpc
import pytest
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.fixtures_replicas import Replicas
from tests.support.fake_upstream import Script
from tests.support.rpc import field_violations, reason
from tests.support.sending import new_session, send
from tests.support.watching import Watcher


def manage(session_id: str, **action: object) -> pb.ManageRequest:
    return pb.ManageRequest(session_id=session_id, **action)  # type: ignore[arg-type]


async def test_each_manage_action_on_a_produces_its_event_on_b(
    replicas: Replicas, owner: Owner
) -> None:
    a = replicas.a.stub
    watcher = await Watcher.open(replicas.b.stub, owner.md)
    try:
        session = (await a.Create(pb.CreateRequest(name="s", model="m"), metadata=owner.md)).session
        sid = session.id
        steps: list[tuple[pb.ManageRequest, int]] = [
            (manage(sid, rename=pb.Rename(name="renamed")), pb.EVENT_TYPE_UPDATED),
            (manage(sid, archive=pb.Archive()), pb.EVENT_TYPE_UPDATED),
            (manage(sid, unarchive=pb.Unarchive()), pb.EVENT_TYPE_UPDATED),
            (manage(sid, star=pb.Star()), pb.EVENT_TYPE_UPDATED),
            (manage(sid, unstar=pb.Unstar()), pb.EVENT_TYPE_UPDATED),
            (manage(sid, truncate=pb.Truncate(keep_last=0)), pb.EVENT_TYPE_UPDATED),
            (manage(sid, fork=pb.Fork(name="the fork")), pb.EVENT_TYPE_CREATED),
            (manage(sid, delete=pb.Delete()), pb.EVENT_TYPE_DELETED),
        ]
        created = await watcher.next()
        assert (created.type, created.session) == (pb.EVENT_TYPE_CREATED, session)
        last_id = created.event_id
        for request, expected_type in steps:
            response = await a.Manage(request, metadata=owner.md)
            event = await watcher.next()
            action = request.WhichOneof("action")
            assert event.type == expected_type, action
            assert event.event_id > last_id, action
            last_id = event.event_id
            if expected_type == pb.EVENT_TYPE_DELETED:
                assert event.session == pb.Session(id=sid)
            else:
                assert event.session == response.session, action
    finally:
        await watcher.close()


async def test_watcher_of_another_owner_receives_nothing(
    replicas: Replicas, owner: Owner, other_owner: Owner
) -> None:
    others = await Watcher.open(replicas.b.stub, other_owner.md)
    try:
        a = replicas.a.stub
        mine = (await a.Create(pb.CreateRequest(name="mine", model="m"), metadata=owner.md)).session
        await a.Manage(manage(mine.id, rename=pb.Rename(name="still mine")), metadata=owner.md)
        await a.Manage(manage(mine.id, delete=pb.Delete()), metadata=owner.md)
        # The other owner's own change comes after: were any of the three above
        # delivered to them, it would arrive first.
        theirs = await a.Create(pb.CreateRequest(name="theirs", model="m"), metadata=other_owner.md)
        event = await others.next()
        assert (event.type, event.session.id) == (pb.EVENT_TYPE_CREATED, theirs.session.id)
        assert others.pending() == 0
    finally:
        await others.close()


async def test_watch_sends_headers_once_established_and_stays_open(
    stub: Stub, owner: Owner
) -> None:
    call = stub.Watch(pb.WatchRequest(), metadata=owner.md)
    try:
        assert await call.initial_metadata() is not None
        assert call.done() is False
    finally:
        call.cancel()


async def test_negative_after_event_id_is_invalid(stub: Stub, owner: Owner) -> None:
    call = stub.Watch(pb.WatchRequest(after_event_id=-1), metadata=owner.md)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    assert reason(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert field_violations(raised.value) == ["after_event_id"]


async def test_after_event_id_beyond_the_callers_events_is_invalid(
    stub: Stub, owner: Owner, other_owner: Owner
) -> None:
    created = await stub.Create(pb.CreateRequest(name="s", model="m"), metadata=other_owner.md)
    watcher = await Watcher.open(stub, other_owner.md, after_event_id=0)
    await stub.Manage(manage(created.session.id, star=pb.Star()), metadata=other_owner.md)
    their_event = (await watcher.next()).event_id
    await watcher.close()
    # An id of another owner's event names nothing of this caller's.
    call = stub.Watch(pb.WatchRequest(after_event_id=their_event), metadata=owner.md)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    assert reason(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert field_violations(raised.value) == ["after_event_id"]


async def test_watch_without_owner_is_unauthenticated(stub: Stub) -> None:
    call = stub.Watch(pb.WatchRequest())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    assert reason(raised.value) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


async def test_send_on_a_produces_message_added_on_b(replicas: Replicas, owner: Owner) -> None:
    session = await new_session(replicas.a.stub, owner)
    watcher = await Watcher.open(replicas.b.stub, owner.md)
    try:
        await send(replicas.a.stub, owner, session.id, Script(tokens=2).say())
        # One event for the user message, one for the reply.
        user, reply = await watcher.take(2)
        assert (user.type, reply.type) == (pb.EVENT_TYPE_MESSAGE_ADDED,) * 2
        assert user.session.id == reply.session.id == session.id
        assert reply.session.message_count == 2
        assert reply.event_id > user.event_id
    finally:
        await watcher.close()
