"""Agent tools over the sessions.v1 service.

Four tools, each with `await tool.execute(content, ctx) -> dict` and an OpenAI
function-calling definition in `tool.schema`; they call the service as an agent
and answer `{"error": "..."}` instead of raising:

    from sessions_client import SessionsClient
    from sessions_client.tools import TOOLS

    ctx = {"client": SessionsClient("127.0.0.1:50051"),
           "principal": {"owner": "alice"}, "session_id": current_session_id}
    definitions = [tool.schema for tool in TOOLS]
    result = await TOOLS_BY_NAME[call.name].execute(call.arguments["content"], ctx)
"""

from sessions_client.tools._create import CreateSession
from sessions_client.tools._list import ListSessions
from sessions_client.tools._manage import ManageSession
from sessions_client.tools._send import SendToSession
from sessions_client.tools._tool import Principal, Tool, ToolContext

create_session = CreateSession()
list_sessions = ListSessions()
send_to_session = SendToSession()
manage_session = ManageSession()

TOOLS: tuple[Tool, ...] = (create_session, list_sessions, send_to_session, manage_session)
TOOLS_BY_NAME: dict[str, Tool] = {tool.name: tool for tool in TOOLS}

__all__ = [
    "TOOLS",
    "TOOLS_BY_NAME",
    "Principal",
    "Tool",
    "ToolContext",
    "create_session",
    "list_sessions",
    "manage_session",
    "send_to_session",
]
