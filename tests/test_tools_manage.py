"""`manage_session` through the real server: every action, in lines and in JSON."""

import asyncio
import json
from typing import Any

import pytest
from sessions_client import NotFound, SessionsClient, pb
from sessions_client.tools import ToolContext, manage_session
from sessions_client.tools._manage_input import parse

from tests.support.fake_upstream import MODEL, FakeUpstream, Script

VALID = (
    "Valid actions: list, switch, rename, archive, unarchive, delete, important, "
    "unimportant, truncate, fork, cancel. Use the exact id from list_sessions as the "
    "session id."
)


@pytest.fixture(params=["lines", "json"])
def form(request: pytest.FixtureRequest) -> str:
    form: str = request.param
    return form


def command(form: str, action: str, session: str = "", value: str = "") -> str:
    """The same command as a model would write it in either form."""
    if form == "json":
        fields = {"action": action, "session_id": session, "value": value}
        return json.dumps({key: text for key, text in fields.items() if text})
    return "\n".join(part for part in (action, session, value) if part)


async def manage(ctx: ToolContext, content: str) -> dict[str, Any]:
    return await manage_session.execute(content, dict(ctx))


def link(name: str, session_id: str) -> str:
    return f"[{name}](#session-{session_id})"


@pytest.mark.parametrize("action", ["switch", "open", "select", "view"])
async def test_switch_returns_a_link_to_click(
    tool_ctx: ToolContext, client: SessionsClient, form: str, action: str
) -> None:
    session = await client.create("Trip [draft]", "demo")
    result = await manage(tool_ctx, command(form, action, session.id))
    escaped = link("Trip \\[draft\\]", session.id)
    assert result == {
        "result": f"{escaped} - click to open.",
        "session_id": session.id,
    }


async def test_rename(tool_ctx: ToolContext, client: SessionsClient, form: str) -> None:
    session = await client.create("old", "demo")
    result = await manage(tool_ctx, command(form, "rename", session.id, "New name"))
    assert result == {
        "result": f"Renamed to {link('New name', session.id)}.",
        "session_id": session.id,
    }
    assert (await client.get(session.id)).session.name == "New name"


@pytest.mark.parametrize("key", ["name", "new_name", "title"])
async def test_rename_takes_any_of_the_name_keys(
    tool_ctx: ToolContext, client: SessionsClient, key: str
) -> None:
    session = await client.create("old", "demo")
    content = json.dumps({"action": "rename", "id": session.id, key: "Renamed"})
    assert (await manage(tool_ctx, content))[
        "result"
    ] == f"Renamed to {link('Renamed', session.id)}."


async def test_rename_without_a_name(
    tool_ctx: ToolContext, client: SessionsClient, form: str
) -> None:
    session = await client.create("old", "demo")
    result = await manage(tool_ctx, command(form, "rename", session.id))
    assert result == {"error": "rename needs the new name: 'value' in JSON, or the third line."}


async def test_archive_and_unarchive(
    tool_ctx: ToolContext, client: SessionsClient, form: str
) -> None:
    session = await client.create("shelf", "demo")
    archived = await manage(tool_ctx, command(form, "archive", session.id))
    assert archived == {
        "result": f"Archived {link('shelf', session.id)}.",
        "session_id": session.id,
    }
    assert (await client.get(session.id)).session.archived
    restored = await manage(tool_ctx, command(form, "unarchive", session.id))
    assert restored == {
        "result": f"Unarchived {link('shelf', session.id)}.",
        "session_id": session.id,
    }
    assert not (await client.get(session.id)).session.archived


async def test_delete(tool_ctx: ToolContext, client: SessionsClient, form: str) -> None:
    session = await client.create("gone", "demo")
    result = await manage(tool_ctx, command(form, "delete", session.id))
    assert result == {"result": "Deleted 'gone' and its 0 message(s).", "session_id": session.id}
    with pytest.raises(NotFound):
        await client.get(session.id)


async def test_important_sessions_cannot_be_deleted(
    tool_ctx: ToolContext, client: SessionsClient, form: str
) -> None:
    session = await client.create("keep", "demo")
    marked = await manage(tool_ctx, command(form, "important", session.id))
    assert marked == {
        "result": f"Marked {link('keep', session.id)} as important.",
        "session_id": session.id,
    }
    refused = await manage(tool_ctx, command(form, "delete", session.id))
    assert refused == {
        "error": "This session is marked important and cannot be deleted. "
        "Only the user can remove the mark."
    }
    assert (await client.get(session.id)).session.starred


async def test_agent_cannot_remove_the_important_mark(
    tool_ctx: ToolContext, client: SessionsClient, form: str
) -> None:
    session = await client.create("keep", "demo")
    await client.star(session.id)
    result = await manage(tool_ctx, command(form, "unimportant", session.id))
    assert result == {
        "error": "Only the user can remove the important mark; "
        "an agent can mark a session important but not unmark it."
    }
    assert (await client.get(session.id)).session.starred


async def test_truncate(tool_ctx: ToolContext, client: SessionsClient, form: str) -> None:
    session = await client.create("long", "demo")
    result = await manage(tool_ctx, command(form, "truncate", session.id, "4"))
    assert result == {
        "result": f"Truncated {link('long', session.id)}: removed 0 message(s), 0 left.",
        "session_id": session.id,
    }


async def test_truncate_needs_a_number(
    tool_ctx: ToolContext, client: SessionsClient, form: str
) -> None:
    session = await client.create("long", "demo")
    result = await manage(tool_ctx, command(form, "truncate", session.id, "a few"))
    assert result == {
        "error": "truncate's keep_count must be a whole number of messages (0 or more), "
        "not 'a few'."
    }


async def test_fork(tool_ctx: ToolContext, client: SessionsClient, form: str) -> None:
    session = await client.create("base", "demo")
    result = await manage(tool_ctx, command(form, "fork", session.id))
    fork = (await client.get(result["session_id"])).session
    assert fork.forked_from == session.id
    assert result == {
        "result": f"Forked into {link('Fork: base', fork.id)} with 0 message(s) copied.",
        "session_id": fork.id,
    }


async def test_fork_takes_a_name_and_a_count(tool_ctx: ToolContext, client: SessionsClient) -> None:
    session = await client.create("base", "demo")
    content = json.dumps(
        {"action": "fork", "session": session.id, "name": "Branch", "keep_count": 2}
    )
    result = await manage(tool_ctx, content)
    assert result["result"] == (
        f"Forked into {link('Branch', result['session_id'])} with 0 message(s) copied."
    )


async def test_list_with_a_filter(tool_ctx: ToolContext, client: SessionsClient, form: str) -> None:
    await client.create("visible", "demo")
    shelved = await client.create("shelved", "demo")
    await client.archive(shelved.id)
    content = (
        json.dumps({"action": "list", "filter": "archived"}) if form == "json" else "list\narchived"
    )
    result = await manage(tool_ctx, content)
    lines = result["results"].splitlines()
    assert lines[0] == "Found 1 session(s), sorted most-recent first:"
    assert lines[1].startswith(f"- **{link('shelved', shelved.id)}** (id: `{shelved.id}`")
    keyword = await manage(tool_ctx, command(form, "list", "", "zzz"))
    assert keyword == {"results": "No sessions found matching 'zzz'."}


async def test_current_means_the_agents_own_session(
    tool_ctx: ToolContext, client: SessionsClient, form: str
) -> None:
    here = await client.create("here", "demo")
    ctx: ToolContext = {**tool_ctx, "session_id": here.id}
    renamed = await manage(ctx, command(form, "rename", "current", "Renamed here"))
    assert renamed == {
        "result": f"Renamed to {link('Renamed here', here.id)}.",
        "session_id": here.id,
    }
    refused = await manage(ctx, command(form, "delete", "current"))
    assert refused == {
        "error": "This is the current session: it cannot be deleted from inside itself."
    }
    by_id = await manage(ctx, command(form, "delete", here.id))
    assert by_id == refused
    assert (await client.get(here.id)).session.name == "Renamed here"


async def test_current_without_a_current_session(tool_ctx: ToolContext, form: str) -> None:
    result = await manage(tool_ctx, command(form, "archive", "current"))
    assert result == {
        "error": "There is no current session here. Use the exact id from list_sessions."
    }


async def test_unknown_action_names_the_valid_ones(tool_ctx: ToolContext, form: str) -> None:
    result = await manage(tool_ctx, command(form, "explode", "some-id"))
    assert result == {"error": f"Unknown action 'explode'. {VALID}"}


async def test_unknown_session_says_to_use_the_exact_id(tool_ctx: ToolContext, form: str) -> None:
    result = await manage(tool_ctx, command(form, "archive", "my trip"))
    assert result == {
        "error": "Session 'my trip' not found. Use the exact id from list_sessions (or 'current')."
    }


async def test_another_owners_session_is_not_found(
    tool_ctx: ToolContext, shared_client: SessionsClient, form: str
) -> None:
    theirs = await shared_client.with_identity(owner="someone-else").create("theirs", "demo")
    result = await manage(tool_ctx, command(form, "switch", theirs.id))
    assert result == {
        "error": f"Session '{theirs.id}' not found. "
        "Use the exact id from list_sessions (or 'current')."
    }


async def test_missing_session_id(tool_ctx: ToolContext, form: str) -> None:
    result = await manage(tool_ctx, command(form, "delete"))
    assert result == {
        "error": "delete needs a session id. Use the exact id from list_sessions, "
        "or 'current' for this session."
    }


async def test_missing_action_and_bad_json(tool_ctx: ToolContext) -> None:
    help_text = (
        'Send JSON like {"action": "rename", "session_id": "<exact id from list_sessions>", '
        '"value": "New name"}, or lines: action, session id, value.'
    )
    assert await manage(tool_ctx, "  ") == {"error": f"Missing action. {VALID} {help_text}"}
    assert await manage(tool_ctx, '{"action": "list",') == {
        "error": f"Invalid JSON (Expecting property name enclosed in double quotes). {help_text}"
    }
    assert await manage(tool_ctx, "[1]") == {"error": f"Unknown action '[1]'. {VALID}"}


@pytest.mark.parametrize("action", ["cancel", "stop", "Stop"])
def test_stop_is_read_as_cancel(form: str, action: str) -> None:
    assert parse(command(form, action, "some-id")).action == "cancel"


def test_the_definition_offers_cancel() -> None:
    function = manage_session.schema["function"]
    assert "cancel (stop the reply" in function["description"]
    assert "fork, cancel." in function["parameters"]["properties"]["content"]["description"]


async def test_cancel_stops_the_reply_in_progress(
    tool_ctx: ToolContext, client: SessionsClient, fake_upstream: FakeUpstream, form: str
) -> None:
    session = await client.create("talking", MODEL)
    first_piece = asyncio.Event()
    sending = asyncio.create_task(
        client.send_text(
            session.id, Script(tokens=50, delay=0.1).say(), on_delta=lambda _: first_piece.set()
        )
    )
    await asyncio.wait_for(first_piece.wait(), 10)
    ctx: ToolContext = {**tool_ctx, "session_id": session.id}
    result = await manage(ctx, command(form, "stop", "current"))
    reply = await asyncio.wait_for(sending, 5)
    assert reply.status == pb.MESSAGE_STATUS_INCOMPLETE
    assert result == {
        "result": f"Cancelled the reply in progress in {link('talking', session.id)}; "
        f"the {len(reply.content)} character(s) written so far are kept.",
        "session_id": session.id,
    }
    assert (await client.get(session.id, messages_limit=1)).messages[0] == reply


async def test_cancel_after_the_reply_ended_changes_nothing(
    tool_ctx: ToolContext, client: SessionsClient, form: str
) -> None:
    session = await client.create("done", "demo@echo")
    reply = await client.send_text(session.id, "all said")
    result = await manage(tool_ctx, command(form, "cancel", session.id))
    assert result == {
        "result": f"Nothing to cancel in {link('done', session.id)}: "
        "its last reply had already ended.",
        "session_id": session.id,
    }
    assert (await client.get(session.id, messages_limit=1)).messages[0] == reply


async def test_cancel_in_a_session_without_replies(
    tool_ctx: ToolContext, client: SessionsClient, form: str
) -> None:
    session = await client.create("quiet", "demo@echo")
    result = await manage(tool_ctx, command(form, "cancel", session.id))
    assert result == {"error": f"Session '{session.id}' has no reply to cancel."}
    missing = await manage(tool_ctx, command(form, "cancel", "my trip"))
    assert missing == {
        "error": "Session 'my trip' not found. Use the exact id from list_sessions (or 'current')."
    }
