"""Bad input: a clear status with its reason and field, and nothing stored or changed."""

from typing import Any

import grpc
import pytest
from sessions_client import pb
from sessions_server.app import App

from tests.conftest import Owner, Stub
from tests.support.calls import create, failure, get, list_all, manage
from tests.support.rpc import field_violations, reason
from tests.support.seed import add_messages

INVALID = (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
NOT_FOUND = (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")

BAD_NAMES = {
    "empty": "",
    "blank": " \t \n ",
    "10000_chars": "n" * 10_000,
    "201_chars": "n" * 201,
    "nul": "bad\x00name",
    "bell": "bad\x07name",
    "escape": "bad\x1b[31mname",
    "newline_inside": "two\nlines",
    "delete_char": "bad\x7fname",
    "c1_control": "bad\x9bname",
}

BAD_CREATES: dict[str, tuple[dict[str, Any], str]] = {
    "model_with_nul": ({"model": "demo\x00"}, "model"),
    "model_too_long": ({"model": "m" * 201}, "model"),
    "system_prompt_with_nul": ({"system_prompt": "be\x00brief"}, "system_prompt"),
    "system_prompt_too_long": ({"system_prompt": "p" * 100_001}, "system_prompt"),
    "65_labels": ({"labels": {f"k{i}": "v" for i in range(65)}}, "labels"),
    "label_key_too_long": ({"labels": {"k" * 64: "v"}}, "labels"),
    "label_value_too_long": ({"labels": {"k": "v" * 257}}, "labels"),
    "label_key_empty": ({"labels": {"": "v"}}, "labels"),
    "label_value_with_nul": ({"labels": {"k": "v\x00"}}, "labels"),
    "label_key_with_newline": ({"labels": {"a\nb": "v"}}, "labels"),
    "request_id_too_long": ({"request_id": "r" * 201}, "request_id"),
    "request_id_with_nul": ({"request_id": "r\x00"}, "request_id"),
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_create_with_a_bad_name_stores_nothing(stub: Stub, owner: Owner, name: str) -> None:
    error = await failure(create(stub, owner.md, name, request_id="bad-name"))
    assert reason(error) == INVALID
    assert field_violations(error) == ["name"]
    assert await list_all(stub, owner.md, archived=pb.ARCHIVED_FILTER_INCLUDE) == []
    # The request id was not spent on the refused call.
    assert (await create(stub, owner.md, "good", request_id="bad-name")).name == "good"


@pytest.mark.parametrize(("fields", "field"), BAD_CREATES.values(), ids=BAD_CREATES.keys())
async def test_create_with_bad_fields_stores_nothing(
    stub: Stub, owner: Owner, fields: dict[str, Any], field: str
) -> None:
    error = await failure(create(stub, owner.md, "fine", **fields))
    assert reason(error) == INVALID
    assert field_violations(error) == [field]
    assert await list_all(stub, owner.md, archived=pb.ARCHIVED_FILTER_INCLUDE) == []


async def test_create_accepts_the_limits(stub: Stub, owner: Owner) -> None:
    session = await create(
        stub,
        owner.md,
        "n" * 200,
        system_prompt="line one\n\tline two\r\n" + "p" * 1000,
        labels={**{f"k{i}": "v" for i in range(63)}, "k" * 63: "v" * 256},
        request_id="r" * 200,
    )
    assert len(session.name) == 200
    assert len(session.labels) == 64


@pytest.fixture
async def chat(server: App, stub: Stub, owner: Owner) -> str:
    """A session with five messages, for checks that a refused call changed nothing."""
    session = await create(stub, owner.md, "chat")
    await add_messages(server.engine, owner.name, session.id, ["1", "2", "3", "4", "5"])
    return session.id


async def _everything(stub: Stub, owner: Owner) -> tuple[list[str], list[pb.GetResponse]]:
    ids = await list_all(stub, owner.md, archived=pb.ARCHIVED_FILTER_INCLUDE)
    return ids, [await get(stub, owner.md, i, messages_limit=1000) for i in ids]


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_rename_to_a_bad_name_changes_nothing(
    stub: Stub, owner: Owner, chat: str, name: str
) -> None:
    before = await _everything(stub, owner)
    error = await failure(manage(stub, owner.md, chat, rename=pb.Rename(name=name)))
    assert reason(error) == INVALID
    assert field_violations(error) == ["name"]
    assert await _everything(stub, owner) == before


BAD_MANAGES: dict[str, tuple[dict[str, Any], str]] = {
    "no_action": ({}, "action"),
    "keep_last_below_zero": ({"truncate": pb.Truncate(keep_last=-1)}, "truncate.keep_last"),
    "keep_first_below_zero": ({"fork": pb.Fork(keep_first=-1)}, "fork.keep_first"),
    "fork_name_blank": ({"fork": pb.Fork(name="   ")}, "fork.name"),
    "fork_name_too_long": ({"fork": pb.Fork(name="f" * 10_000)}, "fork.name"),
    "fork_name_with_nul": ({"fork": pb.Fork(name="f\x00")}, "fork.name"),
}


@pytest.mark.parametrize(("fields", "field"), BAD_MANAGES.values(), ids=BAD_MANAGES.keys())
async def test_bad_manage_changes_nothing(
    stub: Stub, owner: Owner, chat: str, fields: dict[str, Any], field: str
) -> None:
    before = await _everything(stub, owner)
    error = await failure(manage(stub, owner.md, chat, **fields))
    assert reason(error) == INVALID
    assert field_violations(error) == [field]
    assert await _everything(stub, owner) == before


MALFORMED_IDS = {
    "empty": "",
    "word": "not-a-uuid",
    "short_prefix": "6f1c1b2e",
    "too_long": "6f1c1b2e-0d4e-4c47-9d3e-2f35a1e2b7c9-00",
    "nul": "6f1c1b2e-0d4e-4c47-9d3e-2f35a1e2b7c9\x00",
    "10000_chars": "a" * 10_000,
}


@pytest.mark.parametrize("session_id", MALFORMED_IDS.values(), ids=MALFORMED_IDS.keys())
async def test_malformed_session_id_is_not_found(
    stub: Stub, owner: Owner, chat: str, session_id: str
) -> None:
    before = await _everything(stub, owner)
    assert reason(await failure(get(stub, owner.md, session_id))) == NOT_FOUND
    for action in ({"archive": pb.Archive()}, {"delete": pb.Delete()}, {"fork": pb.Fork()}):
        error = await failure(manage(stub, owner.md, session_id, **action))
        assert reason(error) == NOT_FOUND
    alias = await failure(
        manage(stub, owner.md, "current", current_session_id=session_id, star=pb.Star())
    )
    assert reason(alias) == NOT_FOUND
    assert await _everything(stub, owner) == before


async def test_other_spellings_of_an_id_name_no_session(
    stub: Stub, owner: Owner, chat: str
) -> None:
    """Ids are the canonical strings the service hands out; only those name a session."""
    for spelling in (chat.replace("-", ""), "{" + chat + "}", "urn:uuid:" + chat):
        assert reason(await failure(get(stub, owner.md, spelling))) == NOT_FOUND
    assert (await get(stub, owner.md, chat.upper())).session.id == chat


BAD_LISTS: dict[str, tuple[pb.ListRequest, tuple[grpc.StatusCode, str], str]] = {
    "negative_page_size": (pb.ListRequest(page_size=-5), INVALID, "page_size"),
    "query_with_nul": (pb.ListRequest(query="a\x00"), INVALID, "query"),
    "query_too_long": (pb.ListRequest(query="q" * 10_000), INVALID, "query"),
    "unknown_archived_filter": (pb.ListRequest(archived=9), INVALID, "archived"),  # type: ignore[arg-type]
    "forged_page_token": (
        pb.ListRequest(page_token="Zm9yZ2Vk"),
        (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN"),
        "page_token",
    ),
}


@pytest.mark.parametrize(
    ("request_", "expected", "field"), BAD_LISTS.values(), ids=BAD_LISTS.keys()
)
async def test_bad_list_request_is_invalid(
    stub: Stub, owner: Owner, request_: pb.ListRequest, expected: tuple[Any, str], field: str
) -> None:
    error = await failure(stub.List(request_, metadata=owner.md))
    assert reason(error) == expected
    assert field_violations(error) == [field]
