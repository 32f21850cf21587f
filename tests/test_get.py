"""Get: one session and pages of its newest messages, walking backwards by seq."""

import grpc
from sessions_client import pb
from sessions_server.app import App

from tests.conftest import Owner, Stub
from tests.support.calls import create, failure, get
from tests.support.rpc import field_violations, reason
from tests.support.seed import add_messages


async def _session_with_messages(server: App, stub: Stub, owner: Owner, count: int) -> pb.Session:
    session = await create(stub, owner.md, "chat")
    await add_messages(
        server.engine, owner.name, session.id, [f"m{i}" for i in range(1, count + 1)]
    )
    return session


async def test_get_without_limit_returns_the_session_only(
    server: App, stub: Stub, owner: Owner
) -> None:
    session = await _session_with_messages(server, stub, owner, 3)
    got = await get(stub, owner.md, session.id)
    assert got.session.id == session.id
    assert got.session.message_count == 3
    assert list(got.messages) == []
    assert not got.has_more


async def test_get_returns_the_newest_messages_oldest_first(
    server: App, stub: Stub, owner: Owner
) -> None:
    session = await _session_with_messages(server, stub, owner, 25)
    got = await get(stub, owner.md, session.id, messages_limit=10)
    assert [m.seq for m in got.messages] == list(range(16, 26))
    assert [m.content for m in got.messages] == [f"m{i}" for i in range(16, 26)]
    assert got.has_more
    first = got.messages[0]
    assert first.role == pb.ROLE_ASSISTANT
    assert got.messages[1].role == pb.ROLE_USER
    assert first.status == pb.MESSAGE_STATUS_COMPLETE
    assert first.create_time.seconds > 0
    assert not first.HasField("usage")


async def test_before_seq_pages_backwards_to_the_first_message(
    server: App, stub: Stub, owner: Owner
) -> None:
    session = await _session_with_messages(server, stub, owner, 25)
    seen: list[int] = []
    before = 0
    while True:
        got = await get(stub, owner.md, session.id, messages_limit=10, before_seq=before)
        seen = [m.seq for m in got.messages] + seen
        if not got.has_more:
            break
        before = got.messages[0].seq
    assert seen == list(range(1, 26))


async def test_limit_beyond_the_messages_returns_all_without_more(
    server: App, stub: Stub, owner: Owner
) -> None:
    session = await _session_with_messages(server, stub, owner, 4)
    got = await get(stub, owner.md, session.id, messages_limit=1000)
    assert [m.seq for m in got.messages] == [1, 2, 3, 4]
    assert not got.has_more
    exact = await get(stub, owner.md, session.id, messages_limit=4)
    assert not exact.has_more


async def test_before_seq_past_the_end_reads_from_the_end(
    server: App, stub: Stub, owner: Owner
) -> None:
    session = await _session_with_messages(server, stub, owner, 5)
    got = await get(stub, owner.md, session.id, messages_limit=2, before_seq=1_000_000)
    assert [m.seq for m in got.messages] == [4, 5]
    assert got.has_more


async def test_before_seq_one_returns_nothing(server: App, stub: Stub, owner: Owner) -> None:
    session = await _session_with_messages(server, stub, owner, 5)
    got = await get(stub, owner.md, session.id, messages_limit=10, before_seq=1)
    assert list(got.messages) == []
    assert not got.has_more


async def test_messages_limit_outside_its_range_is_invalid(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md)
    for limit in (-1, 1001):
        error = await failure(get(stub, owner.md, session.id, messages_limit=limit))
        assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
        assert field_violations(error) == ["messages_limit"]


async def test_negative_before_seq_is_invalid(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md)
    error = await failure(get(stub, owner.md, session.id, messages_limit=5, before_seq=-1))
    assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert field_violations(error) == ["before_seq"]


async def test_get_of_a_missing_session_is_not_found(stub: Stub, owner: Owner) -> None:
    error = await failure(get(stub, owner.md, "00000000-0000-4000-8000-000000000000"))
    assert reason(error) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
