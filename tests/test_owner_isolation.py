"""Another owner's session reads as missing, to every RPC and every Manage action.

The victim's session is starred, has messages and is held by a Send, so that any
rule checked before the owner would show through (SESSION_STARRED, SESSION_BUSY,
UNSTAR_FORBIDDEN). The intruder's answer must equal, byte for byte, the answer for
a session id that exists nowhere, and the victim's session must stay as it was.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from sessions_client import pb
from sessions_server.app import App

from tests.conftest import Owner, Stub
from tests.support.calls import create, failure, get, list_all, manage
from tests.support.rpc import reason
from tests.support.seed import add_messages, hold_lease


@dataclass(frozen=True)
class Victim:
    owner: Owner
    session_id: str


@pytest.fixture
async def victim(server: App, stub: Stub, other_owner: Owner) -> Victim:
    session = await create(stub, other_owner.md, "secret plans", request_id="victim-key")
    await add_messages(server.engine, other_owner.name, session.id, ["a", "b", "c"])
    await manage(stub, other_owner.md, session.id, star=pb.Star())
    await hold_lease(server.engine, other_owner.name, session.id, 60)
    return Victim(other_owner, session.id)


async def _state(stub: Stub, victim: Victim) -> tuple[pb.GetResponse, list[str]]:
    got = await get(stub, victim.owner.md, victim.session_id, messages_limit=1000)
    return got, await list_all(stub, victim.owner.md, archived=pb.ARCHIVED_FILTER_INCLUDE)


def _same_answer(foreign: grpc.aio.AioRpcError, missing: grpc.aio.AioRpcError) -> None:
    assert foreign.code() == missing.code()
    assert foreign.details() == missing.details()
    assert foreign.trailing_metadata() == missing.trailing_metadata()


MISSING = "6f1c1b2e-0d4e-4c47-9d3e-2f35a1e2b7c9"

ACTIONS: dict[str, dict[str, Any]] = {
    "rename": {"rename": pb.Rename(name="mine now")},
    "archive": {"archive": pb.Archive()},
    "unarchive": {"unarchive": pb.Unarchive()},
    "delete": {"delete": pb.Delete()},
    "star": {"star": pb.Star()},
    "unstar": {"unstar": pb.Unstar()},
    "truncate": {"truncate": pb.Truncate()},
    "truncate_all": {"truncate": pb.Truncate(keep_last=0)},
    "fork": {"fork": pb.Fork()},
    "fork_named": {"fork": pb.Fork(keep_first=1, name="copy")},
}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("as_agent", [False, True], ids=["user", "agent"])
@pytest.mark.parametrize("by_alias", [False, True], ids=["by_id", "by_current"])
async def test_manage_of_another_owners_session_is_not_found(
    stub: Stub, owner: Owner, victim: Victim, action: str, as_agent: bool, by_alias: bool
) -> None:
    md = owner.as_agent if as_agent else owner.md
    before = await _state(stub, victim)
    answers = []
    for target in (victim.session_id, MISSING):
        session_id, current = ("current", target) if by_alias else (target, "")
        answers.append(
            await failure(
                manage(stub, md, session_id, current_session_id=current, **ACTIONS[action])
            )
        )
    foreign, missing = answers
    assert reason(foreign) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    _same_answer(foreign, missing)
    assert await _state(stub, victim) == before
    assert await list_all(stub, owner.md, archived=pb.ARCHIVED_FILTER_INCLUDE) == []


async def test_get_of_another_owners_session_is_not_found(
    stub: Stub, owner: Owner, victim: Victim
) -> None:
    foreign = await failure(get(stub, owner.md, victim.session_id, messages_limit=10))
    missing = await failure(get(stub, owner.md, MISSING, messages_limit=10))
    assert reason(foreign) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    _same_answer(foreign, missing)


async def test_send_to_another_owners_session_answers_as_for_a_missing_one(
    stub: Stub, owner: Owner, victim: Victim
) -> None:
    before = await _state(stub, victim)
    answers = []
    for target in (victim.session_id, MISSING):
        call = stub.Send(pb.SendRequest(session_id=target, content="hi"), metadata=owner.md)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            async for _ in call:
                pass
        answers.append(raised.value)
    _same_answer(*answers)
    assert await _state(stub, victim) == before


async def test_list_never_shows_another_owners_sessions(
    stub: Stub, owner: Owner, victim: Victim
) -> None:
    mine = await create(stub, owner.md, "secret plans too")
    for request in (
        pb.ListRequest(),
        pb.ListRequest(query="secret"),
        pb.ListRequest(archived=pb.ARCHIVED_FILTER_INCLUDE),
        pb.ListRequest(starred_only=True),
    ):
        page = await stub.List(request, metadata=owner.md)
        assert victim.session_id not in [s.id for s in page.sessions]
        assert page.total_size == len(page.sessions)
    assert await list_all(stub, owner.md, query="secret") == [mine.id]


async def test_create_with_another_owners_request_id_makes_a_new_session(
    stub: Stub, owner: Owner, victim: Victim
) -> None:
    before = await _state(stub, victim)
    mine = await create(stub, owner.md, "secret plans", request_id="victim-key")
    assert mine.id != victim.session_id
    assert uuid.UUID(mine.id)
    assert await _state(stub, victim) == before
