"""`send_to_session` through the real server: the reply, its truncation, its errors."""

import asyncio
import uuid

from sessions_client import SessionsClient
from sessions_client.tools import ToolContext, list_sessions, manage_session, send_to_session

from tests.support.fake_upstream import MODEL, FakeUpstream, Script
from tests.support.sending import eventually


async def test_send_returns_the_reply(tool_ctx: ToolContext, client: SessionsClient) -> None:
    session = await client.create("Echo chamber", "demo@echo")
    result = await send_to_session.execute(
        f"{session.id}\nhello there\nsecond line", dict(tool_ctx)
    )
    assert result == {
        "session_id": session.id,
        "session_name": "Echo chamber",
        "response": "hello there\nsecond line",
    }
    got = await client.get(session.id, messages_limit=10)
    assert [m.content for m in got.messages] == ["hello there\nsecond line"] * 2


async def test_a_reply_over_ten_thousand_characters_is_truncated(
    tool_ctx: ToolContext, client: SessionsClient
) -> None:
    session = await client.create("long", "demo@echo")
    message = " ".join(f"word{n:05}" for n in range(1200))
    assert len(message) > 10_000
    result = await send_to_session.execute(f"{session.id}\n{message}", dict(tool_ctx))
    assert result["response"] == message[:10_000] + "\n... (truncated)"
    stored = (await client.get(session.id, messages_limit=1)).messages[0]
    assert stored.content == message


async def test_a_reply_of_exactly_ten_thousand_characters_is_whole(
    tool_ctx: ToolContext, client: SessionsClient
) -> None:
    session = await client.create("edge", "demo@echo")
    message = "x" * 10_000
    result = await send_to_session.execute(f"{session.id}\n{message}", dict(tool_ctx))
    assert result["response"] == message


async def test_current_sends_to_the_agents_own_session(
    tool_ctx: ToolContext, client: SessionsClient, fake_upstream: FakeUpstream
) -> None:
    here = await client.create("here", MODEL)
    script = Script(tokens=3)
    ctx: ToolContext = {**tool_ctx, "session_id": here.id}
    result = await send_to_session.execute(f"current\n{script.say()}", dict(ctx))
    assert result == {"session_id": here.id, "session_name": "here", "response": script.reply}


async def test_the_list_and_manage_tools_see_the_messages(
    tool_ctx: ToolContext, client: SessionsClient
) -> None:
    session = await client.create("chatty", "demo@echo")
    for word in ("one", "two", "three"):
        await send_to_session.execute(f"{session.id}\n{word}", dict(tool_ctx))
    listed = await list_sessions.execute("chatty", dict(tool_ctx))
    assert f"(id: `{session.id}`, model: demo, 6 msgs, last active just now)" in listed["results"]
    truncated = await manage_session.execute(f"truncate\n{session.id}\n2", dict(tool_ctx))
    link = f"[chatty](#session-{session.id})"
    assert truncated["result"] == f"Truncated {link}: removed 4 message(s), 2 left."
    forked = await manage_session.execute(
        f'{{"action": "fork", "session_id": "{session.id}", "keep_count": 1}}', dict(tool_ctx)
    )
    fork_link = f"[Fork: chatty](#session-{forked['session_id']})"
    assert forked["result"] == f"Forked into {fork_link} with 1 message(s) copied."
    got = await client.get(forked["session_id"], messages_limit=10)
    assert [m.content for m in got.messages] == ["three"]


async def test_one_line_needs_two(tool_ctx: ToolContext) -> None:
    result = await send_to_session.execute(str(uuid.uuid4()), dict(tool_ctx))
    assert result == {"error": "Need 2 lines: session id, then the message"}


async def test_unknown_session_says_to_use_the_exact_id(tool_ctx: ToolContext) -> None:
    result = await send_to_session.execute("Trip planning\nhello", dict(tool_ctx))
    assert result == {
        "error": "Session 'Trip planning' not found. "
        "Use the exact id from list_sessions (or 'current')."
    }


async def test_busy_session_is_an_error_to_retry(
    tool_ctx: ToolContext, client: SessionsClient, fake_upstream: FakeUpstream
) -> None:
    session = await client.create("busy", MODEL)
    slow = Script(tokens=3, delay=0.4)
    first = asyncio.create_task(client.send_text(session.id, slow.say()))

    async def streaming() -> bool:
        return (await client.get(session.id)).session.message_count > 0

    await eventually(streaming)
    result = await send_to_session.execute(f"{session.id}\nme too", dict(tool_ctx))
    assert result == {
        "error": "The session is busy with a reply in progress; try again once it has finished."
    }
    assert (await first).content == slow.reply


async def test_upstream_failure_is_an_error_not_an_exception(
    tool_ctx: ToolContext, client: SessionsClient, fake_upstream: FakeUpstream
) -> None:
    session = await client.create("failing", MODEL)
    script = Script(statuses=[{"status": 401}])
    result = await send_to_session.execute(f"{session.id}\n{script.say()}", dict(tool_ctx))
    # The server's own wording, then the reason the model can act on.
    assert result["error"].startswith("the model endpoint rejected the request")
    assert result["error"].endswith("(UPSTREAM_REJECTED)")
