"""Another owner's session is indistinguishable from one that does not exist.

The cases come from the service descriptor: every RPC whose request names a
session, and for Manage every action of its `action` oneof. A new RPC or action
appears here as a case that fails until `REQUESTS` knows how to build it. For each,
the intruder gets exactly the status, message and details a missing session gets,
no row of either owner changes, and the model endpoint hears nothing.

Idempotency keys and page tokens are scoped the same way: one owner's are useless
to another.
"""

import datetime
import uuid
from collections.abc import Callable

import asyncpg
import grpc
import pytest
from google.protobuf.message import Message
from sessions_client import pb
from sessions_server import page_tokens
from sessions_server.models import ArchivedFilter, Cursor, ListQuery

from tests.conftest import Owner, Stub
from tests.support import descriptor, rows
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.rpc import reason
from tests.support.sending import new_session, send

ACTIONS: dict[str, Callable[[], Message]] = {
    "rename": lambda: pb.Rename(name="taken over"),
    "archive": pb.Archive,
    "unarchive": pb.Unarchive,
    "delete": pb.Delete,
    "star": pb.Star,
    "unstar": pb.Unstar,
    "truncate": lambda: pb.Truncate(keep_last=0),
    "fork": lambda: pb.Fork(name="copied"),
}


def _manage(action: str) -> Callable[[str, str], Message]:
    def build(session_id: str, current_session_id: str) -> Message:
        request = pb.ManageRequest(session_id=session_id, current_session_id=current_session_id)
        getattr(request, action).CopyFrom(ACTIONS[action]())
        return request

    return build


# Per case: a request aimed at (session_id, current_session_id) that would change
# something, or reach the model, were the session the caller's.
REQUESTS: dict[str, Callable[[str, str], Message]] = {
    "Get": lambda sid, _: pb.GetRequest(session_id=sid, messages_limit=1000),
    "Send": lambda sid, _: pb.SendRequest(
        session_id=sid, content=Script().say("answer me"), request_id="intruder-key"
    ),
    "Attach": lambda sid, _: pb.AttachRequest(session_id=sid),
    "Cancel": lambda sid, _: pb.CancelRequest(session_id=sid),
    **{f"Manage.{action}": _manage(action) for action in ACTIONS},
}


def cases() -> list[str]:
    found: list[str] = []
    for method in descriptor.METHODS:
        if not descriptor.takes_session_id(method):
            continue
        if method.name == "Manage":
            found.extend(f"Manage.{action}" for action in descriptor.MANAGE_ACTIONS)
        else:
            found.append(method.name)
    return found


def test_every_case_has_a_request() -> None:
    assert sorted(cases()) == sorted(REQUESTS)


@pytest.mark.parametrize("case", cases())
async def test_foreign_session_reads_exactly_as_missing(
    case: str,
    stub: Stub,
    channel: grpc.aio.Channel,
    admin: asyncpg.Connection,
    fake_upstream: FakeUpstream,
    owner: Owner,
    other_owner: Owner,
) -> None:
    victim, intruder = owner, other_owner
    session = await new_session(stub, victim)
    await send(stub, victim, session.id, Script(tokens=2).say("private"), request_id="k")
    await new_session(stub, intruder)
    method = descriptor.SERVICE.methods_by_name[case.split(".")[0]]
    build = REQUESTS[case]
    missing = str(uuid.uuid4())
    targets = [(session.id, ""), (missing, "")]
    if method.name == "Manage":
        targets += [("current", session.id), ("current", missing)]
    before = await rows.snapshot(admin, victim.name, intruder.name)
    heard = len(fake_upstream.requests)

    outcomes = [
        await descriptor.invoke(channel, method, build(*target), intruder.md) for target in targets
    ]

    foreign, absent = outcomes[0::2], outcomes[1::2]
    for got, expected in zip(foreign, absent, strict=True):
        assert got.code is grpc.StatusCode.NOT_FOUND
        assert got.refusal == expected.refusal
        assert got.responses == expected.responses == []
    assert await rows.snapshot(admin, victim.name, intruder.name) == before
    assert len(fake_upstream.requests) == heard


async def test_request_id_of_another_owner_finds_nothing(
    stub: Stub, fake_upstream: FakeUpstream, owner: Owner, other_owner: Owner
) -> None:
    victim, intruder = owner, other_owner
    create = pb.CreateRequest(name="same", model="m", request_id="shared-key")
    theirs = await stub.Create(create, metadata=victim.md)
    script = Script(tokens=2)
    victim_chat = await new_session(stub, victim)
    await send(stub, victim, victim_chat.id, script.say("q"), request_id="send-key")

    # The same key with the same payload makes the intruder's own session ...
    mine = await stub.Create(create, metadata=intruder.md)
    assert mine.session.id != theirs.session.id
    # ... and with another payload it is not "reused": nothing says the key exists.
    third = Owner(f"third-{uuid.uuid4().hex[:10]}")
    other = pb.CreateRequest(name="different", model="m", request_id="shared-key")
    assert (await stub.Create(other, metadata=third.md)).session.name == "different"
    # A Send with the victim's key is no replay of the victim's reply.
    intruder_chat = await new_session(stub, intruder)
    heard = len(fake_upstream.requests)
    responses = await send(stub, intruder, intruder_chat.id, script.say("q"), request_id="send-key")
    completed = responses[-1].completed
    assert not completed.replayed
    assert responses[0].started.session_name == intruder_chat.name
    assert len(fake_upstream.requests) == heard + 1


async def test_page_token_of_another_owner_is_refused(
    stub: Stub, owner: Owner, other_owner: Owner
) -> None:
    victim, intruder = owner, other_owner
    for name in ("one", "two", "three"):
        await stub.Create(pb.CreateRequest(name=name, model="m"), metadata=victim.md)
    first = await stub.List(pb.ListRequest(page_size=1), metadata=victim.md)
    assert first.next_page_token

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.List(
            pb.ListRequest(page_size=1, page_token=first.next_page_token), metadata=intruder.md
        )
    assert reason(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")
    assert first.sessions[0].id not in str(raised.value)


async def test_forged_page_token_positions_only_within_own_sessions(
    stub: Stub, owner: Owner, other_owner: Owner
) -> None:
    victim, intruder = owner, other_owner
    mine = await stub.Create(pb.CreateRequest(name="mine", model="m"), metadata=intruder.md)
    for name in ("one", "two"):
        await stub.Create(pb.CreateRequest(name=name, model="m"), metadata=victim.md)
    newest = (await stub.List(pb.ListRequest(), metadata=victim.md)).sessions[0]
    # Tokens are not secret: the intruder can bind one to itself, pointing just past
    # the victim's newest session. The victim's older session lies beyond it too.
    forged = page_tokens.encode(
        Cursor(newest.last_active_time.ToDatetime(tzinfo=datetime.UTC), uuid.UUID(newest.id)),
        intruder.name,
        ListQuery(text="", archived=ArchivedFilter.EXCLUDE, starred_only=False),
    )
    page = await stub.List(pb.ListRequest(page_token=forged), metadata=intruder.md)
    assert [s.id for s in page.sessions] == [mine.session.id]
    assert page.total_size == 1
