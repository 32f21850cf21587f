"""The text the tools show the model: session links, relative times, the session list.

A session is shown as the markdown link `[name](#session-ID)`, which the chat
front end turns into a click that opens the session; the model is asked to keep
these links when it mentions a session.
"""

import datetime

from sessions_client._generated.sessions.v1 import sessions_pb2 as pb

LIST_LIMIT = 50
DAYS_SHOWN_RELATIVE = 7
KEEP_LINKS_HINT = (
    "When you mention a session to the user, keep its link exactly as written above, "
    "[name](#session-ID): it opens the session with one click."
)


def escape_name(name: str) -> str:
    """The name with `[` and `]` escaped, so it cannot end or nest a markdown link."""
    return name.replace("[", "\\[").replace("]", "\\]")


def session_link(session: pb.Session) -> str:
    return f"[{escape_name(session.name)}](#session-{session.id})"


def relative_time(then: datetime.datetime, now: datetime.datetime) -> str:
    """`just now`, `Nm ago`, `Nh ago`, `Nd ago` within a week, else the date."""
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m ago"
    hours = minutes // 60
    if hours < 24:
        return f"{hours}h ago"
    days = hours // 24
    if days < DAYS_SHOWN_RELATIVE:
        return f"{days}d ago"
    return then.date().isoformat()


def session_line(session: pb.Session, now: datetime.datetime) -> str:
    active = session.last_active_time.ToDatetime(datetime.UTC)
    return (
        f"- **{session_link(session)}** (id: `{session.id}`, model: {session.model}, "
        f"{session.message_count} msgs, last active {relative_time(active, now)})"
    )


def session_list(page: pb.ListResponse, keyword: str, now: datetime.datetime) -> str:
    """The list as the model reads it: a count, up to 50 lines, and the hint about links."""
    if not page.sessions:
        return f"No sessions found matching '{keyword}'." if keyword else "No sessions found."
    lines = [f"Found {page.total_size} session(s), sorted most-recent first:"]
    shown = page.sessions[:LIST_LIMIT]
    for index, session in enumerate(shown):
        line = session_line(session, now)
        lines.append(line + " ← most recent" if index == 0 else line)
    if page.total_size > len(shown):
        lines.append(f"... and {page.total_size - len(shown)} more (showing first {LIST_LIMIT})")
    lines += ["", KEEP_LINKS_HINT]
    return "\n".join(lines)
