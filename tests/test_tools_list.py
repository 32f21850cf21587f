"""`list_sessions` through the real server: the exact text of the list."""

import datetime

from sessions_client import SessionsClient, pb
from sessions_client.tools import ToolContext, list_sessions

HINT = (
    "When you mention a session to the user, keep its link exactly as written above, "
    "[name](#session-ID): it opens the session with one click."
)


def line(session: pb.Session, name: str) -> str:
    return (
        f"- **[{name}](#session-{session.id})** (id: `{session.id}`, model: demo, "
        "0 msgs, last active just now)"
    )


async def test_sixty_sessions_show_fifty_and_say_how_many_more(
    tool_ctx: ToolContext, client: SessionsClient
) -> None:
    created = [await client.create(f"session {n:02}", "demo") for n in range(60)]
    result = await list_sessions.execute("", dict(tool_ctx))
    newest_first = created[::-1]
    expected = [
        "Found 60 session(s), sorted most-recent first:",
        line(newest_first[0], "session 59") + " ← most recent",
        *(line(s, s.name) for s in newest_first[1:50]),
        "... and 10 more (showing first 50)",
        "",
        HINT,
    ]
    assert result == {"results": "\n".join(expected)}


async def test_brackets_in_names_are_escaped(tool_ctx: ToolContext, client: SessionsClient) -> None:
    session = await client.create("plan [x] v2", "demo")
    result = await list_sessions.execute("", dict(tool_ctx))
    assert result["results"] == "\n".join(
        [
            "Found 1 session(s), sorted most-recent first:",
            line(session, "plan \\[x\\] v2") + " ← most recent",
            "",
            HINT,
        ]
    )


async def test_keyword_filters_by_name(tool_ctx: ToolContext, client: SessionsClient) -> None:
    await client.create("Groceries", "demo")
    trip = await client.create("Trip to Lisbon", "demo")
    result = await list_sessions.execute("  lisbon\n", dict(tool_ctx))
    lines = result["results"].splitlines()
    assert lines[:2] == [
        "Found 1 session(s), sorted most-recent first:",
        line(trip, "Trip to Lisbon") + " ← most recent",
    ]


async def test_no_match_says_so(tool_ctx: ToolContext, client: SessionsClient) -> None:
    await client.create("Groceries", "demo")
    result = await list_sessions.execute("zebra", dict(tool_ctx))
    assert result == {"results": "No sessions found matching 'zebra'."}


async def test_no_sessions_at_all(tool_ctx: ToolContext) -> None:
    assert await list_sessions.execute("", dict(tool_ctx)) == {"results": "No sessions found."}


async def test_archived_sessions_are_hidden(tool_ctx: ToolContext, client: SessionsClient) -> None:
    hidden = await client.create("hidden", "demo")
    await client.archive(hidden.id)
    result = await list_sessions.execute("", dict(tool_ctx))
    assert result == {"results": "No sessions found."}


def test_relative_times() -> None:
    from sessions_client.tools._format import relative_time

    now = datetime.datetime(2025, 3, 10, 12, 0, tzinfo=datetime.UTC)
    ago = [
        (datetime.timedelta(seconds=0), "just now"),
        (datetime.timedelta(seconds=59), "just now"),
        (datetime.timedelta(minutes=5), "5m ago"),
        (datetime.timedelta(minutes=59, seconds=59), "59m ago"),
        (datetime.timedelta(hours=3, minutes=20), "3h ago"),
        (datetime.timedelta(hours=23, minutes=59), "23h ago"),
        (datetime.timedelta(days=2, hours=5), "2d ago"),
        (datetime.timedelta(days=6, hours=23), "6d ago"),
        (datetime.timedelta(days=7), "2025-03-03"),
        (datetime.timedelta(days=400), "2024-02-04"),
        (datetime.timedelta(seconds=-30), "just now"),
    ]
    assert [relative_time(now - delta, now) for delta, _ in ago] == [text for _, text in ago]
