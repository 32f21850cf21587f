"""List: order by last activity, keyset pages, the query, filters, and page tokens."""

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from sessions_client import pb
from sessions_server.app import App

from tests.conftest import Owner, Stub
from tests.support.calls import create, failure, list_all, manage
from tests.support.rpc import field_violations, reason
from tests.support.seed import add_messages, add_sessions, set_last_active


async def _create_many(stub: Stub, owner: Owner, count: int) -> list[pb.Session]:
    return list(
        await asyncio.gather(*(create(stub, owner.md, f"session {i}") for i in range(count)))
    )


async def test_sessions_come_most_recently_active_first(
    server: App, stub: Stub, owner: Owner
) -> None:
    first = await create(stub, owner.md, "first")
    second = await create(stub, owner.md, "second")
    third = await create(stub, owner.md, "third")
    assert await list_all(stub, owner.md) == [third.id, second.id, first.id]
    await add_messages(server.engine, owner.name, first.id, ["hello"])
    assert await list_all(stub, owner.md) == [first.id, third.id, second.id]


async def test_equally_active_sessions_are_ordered_by_id(
    server: App, stub: Stub, owner: Owner
) -> None:
    sessions = await _create_many(stub, owner, 6)
    ids = [s.id for s in sessions]
    await set_last_active(server.engine, owner.name, ids, datetime(2030, 1, 1, tzinfo=UTC))
    expected = sorted(ids, key=uuid.UUID, reverse=True)
    assert await list_all(stub, owner.md) == expected
    assert await list_all(stub, owner.md, page_size=1) == expected


async def test_paging_through_250_sessions_by_7_misses_and_repeats_none(
    server: App, stub: Stub, owner: Owner
) -> None:
    sessions = await _create_many(stub, owner, 250)
    ids = [s.id for s in sessions]
    # Groups of ten equally active sessions, so that pages break inside ties.
    start = datetime(2030, 1, 1, tzinfo=UTC)
    times = {}
    for group in range(25):
        members = ids[group * 10 : group * 10 + 10]
        time = start + timedelta(minutes=group)
        await set_last_active(server.engine, owner.name, members, time)
        times.update(dict.fromkeys(members, time))
    expected = sorted(ids, key=lambda i: (times[i], uuid.UUID(i)), reverse=True)

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.List(pb.ListRequest(page_size=7, page_token=token), metadata=owner.md)
        pages += 1
        assert page.total_size == 250
        assert len(page.sessions) == (7 if page.next_page_token else 250 % 7)
        seen.extend(s.id for s in page.sessions)
        token = page.next_page_token
        if not token:
            break
    assert pages == 36
    assert len(seen) == len(set(seen)) == 250
    assert seen == expected


async def test_session_created_while_paging_is_not_repeated(stub: Stub, owner: Owner) -> None:
    await _create_many(stub, owner, 10)
    first = await stub.List(pb.ListRequest(page_size=4), metadata=owner.md)
    newcomer = await create(stub, owner.md, "newcomer")
    seen = [s.id for s in first.sessions]
    token = first.next_page_token
    while token:
        page = await stub.List(pb.ListRequest(page_size=4, page_token=token), metadata=owner.md)
        seen.extend(s.id for s in page.sessions)
        token = page.next_page_token
    assert len(seen) == len(set(seen)) == 10
    assert newcomer.id not in seen


async def test_query_matches_percent_underscore_and_slash_literally(
    stub: Stub, owner: Owner
) -> None:
    names = ["100% sure", "100 percent", "a_b", "axb", "path/to", "path to", "back\\slash"]
    created = {name: (await create(stub, owner.md, name)).id for name in names}
    for query, matching in (
        ("%", ["100% sure"]),
        ("0%", ["100% sure"]),
        ("_", ["a_b"]),
        ("a_b", ["a_b"]),
        ("/", ["path/to"]),
        ("\\", ["back\\slash"]),
        ("100", ["100% sure", "100 percent"]),
    ):
        found = await list_all(stub, owner.md, query=query)
        assert sorted(found) == sorted(created[n] for n in matching), query


async def test_query_is_case_insensitive_substring(stub: Stub, owner: Owner) -> None:
    trip = await create(stub, owner.md, "Trip Planning")
    await create(stub, owner.md, "Groceries")
    for query in ("trip", "PLANNING", "p pl", "Trip Planning"):
        assert await list_all(stub, owner.md, query=query) == [trip.id], query
    assert await list_all(stub, owner.md, query="nothing like it") == []
    umlaut = await create(stub, owner.md, "ÄRGER mit Émile")
    assert await list_all(stub, owner.md, query="ärger MIT émile") == [umlaut.id]


async def test_archived_filter(stub: Stub, owner: Owner) -> None:
    kept = await create(stub, owner.md, "kept")
    archived = await create(stub, owner.md, "archived")
    await manage(stub, owner.md, archived.id, archive=pb.Archive())
    for filter_, expected in (
        (pb.ARCHIVED_FILTER_UNSPECIFIED, [kept.id]),
        (pb.ARCHIVED_FILTER_EXCLUDE, [kept.id]),
        (pb.ARCHIVED_FILTER_INCLUDE, [archived.id, kept.id]),
        (pb.ARCHIVED_FILTER_ONLY, [archived.id]),
    ):
        page = await stub.List(pb.ListRequest(archived=filter_), metadata=owner.md)
        assert [s.id for s in page.sessions] == expected, filter_
        assert page.total_size == len(expected)


async def test_starred_only(stub: Stub, owner: Owner) -> None:
    await create(stub, owner.md, "plain")
    starred = await create(stub, owner.md, "starred")
    await manage(stub, owner.md, starred.id, star=pb.Star())
    page = await stub.List(pb.ListRequest(starred_only=True), metadata=owner.md)
    assert [s.id for s in page.sessions] == [starred.id]
    assert page.sessions[0].starred
    assert page.total_size == 1


async def test_total_size_counts_every_page_of_the_query(stub: Stub, owner: Owner) -> None:
    for i in range(5):
        await create(stub, owner.md, f"alpha {i}")
    await create(stub, owner.md, "beta")
    page = await stub.List(pb.ListRequest(page_size=2, query="alpha"), metadata=owner.md)
    assert len(page.sessions) == 2
    assert page.total_size == 5


async def test_total_size_follows_every_change_under_each_filter(stub: Stub, owner: Owner) -> None:
    """The totals of queries without text come from per-owner counts kept by the
    database; they must agree with the sessions List returns, after every change."""
    filters = [
        (archived, starred)
        for archived in (
            pb.ARCHIVED_FILTER_EXCLUDE,
            pb.ARCHIVED_FILTER_INCLUDE,
            pb.ARCHIVED_FILTER_ONLY,
        )
        for starred in (False, True)
    ]

    async def assert_totals_agree() -> None:
        for archived, starred in filters:
            request = pb.ListRequest(page_size=1000, archived=archived, starred_only=starred)
            listed = await stub.List(request, metadata=owner.md)
            assert listed.total_size == len(listed.sessions), (archived, starred)

    sessions = await _create_many(stub, owner, 4)
    await create(stub, owner.md, "again", request_id="once")
    await create(stub, owner.md, "again", request_id="once")
    await assert_totals_agree()
    changes: list[tuple[str, dict[str, Any]]] = [
        (sessions[0].id, {"archive": pb.Archive()}),
        (sessions[0].id, {"archive": pb.Archive()}),
        (sessions[1].id, {"star": pb.Star()}),
        (sessions[0].id, {"star": pb.Star()}),
        (sessions[0].id, {"unarchive": pb.Unarchive()}),
        (sessions[1].id, {"fork": pb.Fork()}),
        (sessions[1].id, {"unstar": pb.Unstar()}),
        (sessions[2].id, {"delete": pb.Delete()}),
    ]
    for session_id, action in changes:
        await manage(stub, owner.md, session_id, **action)
        await assert_totals_agree()
    with_all = await stub.List(
        pb.ListRequest(archived=pb.ARCHIVED_FILTER_INCLUDE), metadata=owner.md
    )
    assert with_all.total_size == 5  # 4 + 1 idempotent create + 1 fork - 1 deleted


async def test_page_size_defaults_to_50(stub: Stub, owner: Owner) -> None:
    await _create_many(stub, owner, 51)
    page = await stub.List(pb.ListRequest(), metadata=owner.md)
    assert len(page.sessions) == 50
    assert page.next_page_token
    rest = await stub.List(pb.ListRequest(page_token=page.next_page_token), metadata=owner.md)
    assert len(rest.sessions) == 1
    assert rest.next_page_token == ""


async def test_page_size_above_1000_means_1000(server: App, stub: Stub, owner: Owner) -> None:
    await add_sessions(server.engine, owner.name, 1001)
    page = await stub.List(pb.ListRequest(page_size=5000), metadata=owner.md)
    assert len(page.sessions) == 1000
    assert page.total_size == 1001
    assert page.next_page_token


async def test_empty_list_has_no_token(stub: Stub, owner: Owner) -> None:
    page = await stub.List(pb.ListRequest(), metadata=owner.md)
    assert (list(page.sessions), page.next_page_token, page.total_size) == ([], "", 0)


async def test_negative_page_size_is_invalid(stub: Stub, owner: Owner) -> None:
    error = await failure(stub.List(pb.ListRequest(page_size=-1), metadata=owner.md))
    assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert field_violations(error) == ["page_size"]


async def _token(stub: Stub, owner: Owner, **fields: object) -> str:
    page = await stub.List(pb.ListRequest(page_size=1, **fields), metadata=owner.md)  # type: ignore[arg-type]
    assert page.next_page_token
    return page.next_page_token


def _bad_token(error: grpc.aio.AioRpcError) -> None:
    assert reason(error) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")
    assert field_violations(error) == ["page_token"]


def _encoded(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _moved_cursors(token: str) -> list[str]:
    """The token with each of its values changed and everything else kept.

    This knows the token's current layout (base64 of a JSON object); the test fails
    loudly if that changes, rather than passing without checking anything.
    """
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert isinstance(payload, dict)
    moved = []
    for key, value in payload.items():
        assert isinstance(value, str)
        changed = value[:-1] + ("0" if value[-1] != "0" else "1")
        moved.append(_encoded({**payload, key: changed}))
    return moved


async def test_forged_page_tokens_are_invalid(stub: Stub, owner: Owner) -> None:
    await _create_many(stub, owner, 3)
    token = await _token(stub, owner)
    # A changed character anywhere, a cut, garbage, and well-formed JSON of the wrong shape.
    forged = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token[:10] + ("x" if token[10] != "x" else "y") + token[11:],
        token[: len(token) // 2],
        "not a token",
        "e30",  # {}
        "WzEsMiwzXQ",  # [1,2,3]
        "eyJ0IjogMSwgImkiOiA1LCAiYiI6ICJ4In0",  # {"t": 1, "i": 5, "b": "x"}
        _encoded({"t": "2030-01-01T00:00:00+00:00", "i": 5, "b": "x"}),
        "x" * 5000,
        *_moved_cursors(token),
    ]
    for bad in forged:
        error = await failure(
            stub.List(pb.ListRequest(page_size=1, page_token=bad), metadata=owner.md)
        )
        _bad_token(error)


async def test_another_owners_page_token_is_invalid(
    stub: Stub, owner: Owner, other_owner: Owner
) -> None:
    await _create_many(stub, owner, 3)
    await _create_many(stub, other_owner, 3)
    token = await _token(stub, owner)
    error = await failure(stub.List(pb.ListRequest(page_token=token), metadata=other_owner.md))
    _bad_token(error)


async def test_page_token_of_another_query_is_invalid(stub: Stub, owner: Owner) -> None:
    for i in range(3):
        await create(stub, owner.md, f"alpha {i}")
    token = await _token(stub, owner, query="alpha")
    for changed in (
        pb.ListRequest(query="alph"),
        pb.ListRequest(query="alpha", archived=pb.ARCHIVED_FILTER_INCLUDE),
        pb.ListRequest(query="alpha", starred_only=True),
    ):
        changed.page_token = token
        _bad_token(await failure(stub.List(changed, metadata=owner.md)))
    # The page size may change between pages.
    page = await stub.List(pb.ListRequest(query="alpha", page_token=token), metadata=owner.md)
    assert len(page.sessions) == 2
