"""Manage: every action, and every rule with its status code and reason."""

import uuid

import grpc
import sqlalchemy as sa
from sessions_client import pb
from sessions_server.app import App
from sessions_server.store import Store
from sessions_server.store.tables import messages

from tests.conftest import Owner, Stub
from tests.support.calls import create, failure, get, manage
from tests.support.rpc import reason
from tests.support.seed import add_messages, hold_lease


async def _chat(server: App, stub: Stub, owner: Owner, count: int, name: str = "chat") -> str:
    session = await create(stub, owner.md, name, system_prompt="be brief", labels={"k": "v"})
    await add_messages(
        server.engine, owner.name, session.id, [f"m{i}" for i in range(1, count + 1)]
    )
    return session.id


async def _contents(stub: Stub, owner: Owner, session_id: str) -> list[tuple[int, str]]:
    got = await get(stub, owner.md, session_id, messages_limit=1000)
    return [(m.seq, m.content) for m in got.messages]


async def _stored_messages(server: App, owner: Owner, session_id: str) -> int:
    async with Store(server.engine).scope(owner.name) as scope:
        count: int = (
            await scope.connection.execute(
                sa.select(sa.func.count()).where(messages.c.session_id == uuid.UUID(session_id))
            )
        ).scalar_one()
    return count


async def test_rename_trims_and_changes_only_the_name(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md, "before")
    renamed = (await manage(stub, owner.md, session.id, rename=pb.Rename(name="  after "))).session
    assert renamed.name == "after"
    assert renamed.update_time.ToDatetime() >= session.update_time.ToDatetime()
    assert renamed.last_active_time == session.last_active_time
    assert renamed.create_time == session.create_time
    assert (await get(stub, owner.md, session.id)).session == renamed


async def test_archive_and_unarchive(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md)
    archived = await manage(stub, owner.md, session.id, archive=pb.Archive())
    assert archived.session.archived
    assert (await get(stub, owner.md, session.id)).session.archived
    unarchived = await manage(stub, owner.md, session.id, unarchive=pb.Unarchive())
    assert not unarchived.session.archived
    assert not (await get(stub, owner.md, session.id)).session.archived


async def test_delete_removes_the_session_and_its_messages(
    server: App, stub: Stub, owner: Owner
) -> None:
    session_id = await _chat(server, stub, owner, 4)
    deleted = await manage(stub, owner.md, session_id, delete=pb.Delete())
    assert deleted.deleted
    assert deleted.messages_removed == 4
    assert deleted.session.id == session_id
    error = await failure(get(stub, owner.md, session_id))
    assert reason(error) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    assert await _stored_messages(server, owner, session_id) == 0
    again = await failure(manage(stub, owner.md, session_id, delete=pb.Delete()))
    assert reason(again) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_delete_of_a_starred_session_is_refused(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md)
    await manage(stub, owner.md, session.id, star=pb.Star())
    error = await failure(manage(stub, owner.md, session.id, delete=pb.Delete()))
    assert reason(error) == (grpc.StatusCode.FAILED_PRECONDITION, "SESSION_STARRED")
    assert (await get(stub, owner.md, session.id)).session.starred


async def test_delete_of_the_current_session_is_refused(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md)
    for session_id in (session.id, "current"):
        error = await failure(
            manage(stub, owner.md, session_id, current_session_id=session.id, delete=pb.Delete())
        )
        assert reason(error) == (grpc.StatusCode.FAILED_PRECONDITION, "SESSION_IS_CURRENT")
    assert (await get(stub, owner.md, session.id)).session.id == session.id


async def test_delete_of_another_than_the_current_session_is_allowed(
    stub: Stub, owner: Owner
) -> None:
    current = await create(stub, owner.md, "current")
    other = await create(stub, owner.md, "other")
    deleted = await manage(
        stub, owner.md, other.id, current_session_id=current.id, delete=pb.Delete()
    )
    assert deleted.deleted
    assert (await get(stub, owner.md, current.id)).session.id == current.id


async def test_current_alias_names_the_current_session(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md, "old")
    renamed = await manage(
        stub, owner.md, "current", current_session_id=session.id, rename=pb.Rename(name="new")
    )
    assert renamed.session.id == session.id
    assert renamed.session.name == "new"


async def test_current_alias_without_a_current_session_is_not_found(
    stub: Stub, owner: Owner
) -> None:
    await create(stub, owner.md)
    error = await failure(manage(stub, owner.md, "current", archive=pb.Archive()))
    assert reason(error) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_users_and_agents_may_star(stub: Stub, owner: Owner) -> None:
    for md in (owner.md, owner.as_agent):
        session = await create(stub, md)
        starred = await manage(stub, md, session.id, star=pb.Star())
        assert starred.session.starred
        assert (await get(stub, owner.md, session.id)).session.starred


async def test_agents_may_not_unstar(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md)
    await manage(stub, owner.as_agent, session.id, star=pb.Star())
    error = await failure(manage(stub, owner.as_agent, session.id, unstar=pb.Unstar()))
    assert reason(error) == (grpc.StatusCode.PERMISSION_DENIED, "UNSTAR_FORBIDDEN")
    assert (await get(stub, owner.md, session.id)).session.starred


async def test_users_may_unstar(stub: Stub, owner: Owner) -> None:
    session = await create(stub, owner.md)
    await manage(stub, owner.md, session.id, star=pb.Star())
    unstarred = await manage(stub, owner.md, session.id, unstar=pb.Unstar())
    assert not unstarred.session.starred
    assert not (await get(stub, owner.md, session.id)).session.starred


async def test_truncate_keeps_the_newest_10_by_default(
    server: App, stub: Stub, owner: Owner
) -> None:
    session_id = await _chat(server, stub, owner, 25)
    truncated = await manage(stub, owner.md, session_id, truncate=pb.Truncate())
    assert truncated.messages_removed == 15
    assert truncated.session.message_count == 10
    assert await _contents(stub, owner, session_id) == [(i, f"m{i}") for i in range(16, 26)]
    assert await _stored_messages(server, owner, session_id) == 10


async def test_truncate_keep_last(server: App, stub: Stub, owner: Owner) -> None:
    session_id = await _chat(server, stub, owner, 6)
    truncated = await manage(stub, owner.md, session_id, truncate=pb.Truncate(keep_last=2))
    assert (truncated.messages_removed, truncated.session.message_count) == (4, 2)
    assert await _contents(stub, owner, session_id) == [(5, "m5"), (6, "m6")]
    emptied = await manage(stub, owner.md, session_id, truncate=pb.Truncate(keep_last=0))
    assert (emptied.messages_removed, emptied.session.message_count) == (2, 0)
    assert await _contents(stub, owner, session_id) == []
    more = await manage(stub, owner.md, session_id, truncate=pb.Truncate(keep_last=50))
    assert more.messages_removed == 0


async def test_seqs_are_never_reused_after_truncate(server: App, stub: Stub, owner: Owner) -> None:
    session_id = await _chat(server, stub, owner, 5)
    await manage(stub, owner.md, session_id, truncate=pb.Truncate(keep_last=0))
    assert await add_messages(server.engine, owner.name, session_id, ["after"]) == [6]
    assert await _contents(stub, owner, session_id) == [(6, "after")]


async def test_fork_copies_every_message_into_a_new_session(
    server: App, stub: Stub, owner: Owner
) -> None:
    source_id = await _chat(server, stub, owner, 5, name="Planning")
    source = (await get(stub, owner.md, source_id)).session
    forked = await manage(stub, owner.md, source_id, fork=pb.Fork())
    fork = forked.session
    assert forked.messages_copied == 5
    assert fork.id != source_id
    assert fork.forked_from == source_id
    assert fork.name == "Fork: Planning"
    assert (fork.model, fork.endpoint, fork.system_prompt) == (
        source.model,
        source.endpoint,
        source.system_prompt,
    )
    assert dict(fork.labels) == dict(source.labels)
    assert fork.message_count == 5
    assert (fork.starred, fork.archived) == (False, False)
    assert await _contents(stub, owner, fork.id) == await _contents(stub, owner, source_id)
    assert (await get(stub, owner.md, source_id)).session == source


async def test_fork_keep_first_copies_the_oldest(server: App, stub: Stub, owner: Owner) -> None:
    source_id = await _chat(server, stub, owner, 6)
    forked = await manage(stub, owner.md, source_id, fork=pb.Fork(keep_first=2))
    assert forked.messages_copied == 2
    assert forked.session.message_count == 2
    assert await _contents(stub, owner, forked.session.id) == [(1, "m1"), (2, "m2")]
    everything = await manage(stub, owner.md, source_id, fork=pb.Fork(keep_first=0))
    assert everything.messages_copied == 6


async def test_fork_of_a_truncated_session_numbers_from_one_and_continues(
    server: App, stub: Stub, owner: Owner
) -> None:
    source_id = await _chat(server, stub, owner, 6)
    await manage(stub, owner.md, source_id, truncate=pb.Truncate(keep_last=3))
    fork = (await manage(stub, owner.md, source_id, fork=pb.Fork())).session
    assert await _contents(stub, owner, fork.id) == [(1, "m4"), (2, "m5"), (3, "m6")]
    assert await add_messages(server.engine, owner.name, fork.id, ["next"]) == [4]


async def test_fork_with_a_name(stub: Stub, owner: Owner) -> None:
    source = await create(stub, owner.md, "source")
    fork = (await manage(stub, owner.md, source.id, fork=pb.Fork(name="  Branch  "))).session
    assert fork.name == "Branch"
    assert fork.message_count == 0


async def test_fork_default_name_is_cut_to_200_characters(stub: Stub, owner: Owner) -> None:
    long_name = "x" * 193 + " " + "y" * 6
    source = await create(stub, owner.md, long_name)
    fork = (await manage(stub, owner.md, source.id, fork=pb.Fork())).session
    assert fork.name == ("Fork: " + long_name)[:200].rstrip()
    assert len(fork.name) <= 200
    assert fork.name.startswith("Fork: xxx")


async def test_fork_is_listed_first(stub: Stub, owner: Owner) -> None:
    source = await create(stub, owner.md)
    fork = (await manage(stub, owner.md, source.id, fork=pb.Fork())).session
    page = await stub.List(pb.ListRequest(), metadata=owner.md)
    assert [s.id for s in page.sessions] == [fork.id, source.id]


async def test_truncate_and_delete_while_a_send_holds_the_session_are_busy(
    server: App, stub: Stub, owner: Owner
) -> None:
    session_id = await _chat(server, stub, owner, 3)
    await hold_lease(server.engine, owner.name, session_id, 60)
    for action in ({"truncate": pb.Truncate()}, {"delete": pb.Delete()}):
        error = await failure(manage(stub, owner.md, session_id, **action))
        assert reason(error) == (grpc.StatusCode.ABORTED, "SESSION_BUSY")
    assert len(await _contents(stub, owner, session_id)) == 3
    renamed = await manage(stub, owner.md, session_id, rename=pb.Rename(name="still usable"))
    assert renamed.session.name == "still usable"


async def test_a_lapsed_lease_does_not_hold_the_session(
    server: App, stub: Stub, owner: Owner
) -> None:
    session_id = await _chat(server, stub, owner, 3)
    await hold_lease(server.engine, owner.name, session_id, -1)
    truncated = await manage(stub, owner.md, session_id, truncate=pb.Truncate(keep_last=1))
    assert truncated.messages_removed == 2
    assert (await manage(stub, owner.md, session_id, delete=pb.Delete())).deleted
