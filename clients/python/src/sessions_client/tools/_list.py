"""`list_sessions`: content = an optional keyword matched against session names."""

import datetime
from typing import Any

from sessions_client.tools._format import LIST_LIMIT, session_list
from sessions_client.tools._tool import Call, Tool


class ListSessions(Tool):
    name = "list_sessions"
    description = (
        "List the user's chat sessions, most recently active first (at most 50 shown), "
        "each with a [name](#session-ID) link and its exact id for the other session tools."
    )
    content_description = (
        "An optional keyword: only sessions whose name contains it (case-insensitive). "
        "Empty for all sessions."
    )

    async def run(self, content: str, call: Call) -> dict[str, Any]:
        keyword = content.strip()
        page = await call.client.list(query=keyword, page_size=LIST_LIMIT)
        return {"results": session_list(page, keyword, datetime.datetime.now(datetime.UTC))}
