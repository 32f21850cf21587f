"""`send_to_session`: content "session_id\nmessage"; returns the model's reply."""

from typing import Any

from sessions_client.tools._tool import USE_EXACT_ID, Call, Tool, ToolError, about_session

REPLY_LIMIT = 10_000
TRUNCATED = "\n... (truncated)"


def clipped(reply: str) -> str:
    return reply if len(reply) <= REPLY_LIMIT else reply[:REPLY_LIMIT] + TRUNCATED


class SendToSession(Tool):
    name = "send_to_session"
    description = (
        "Send a message to a chat session and return its model's reply "
        f"(replies over {REPLY_LIMIT:,} characters are cut)."
    )
    content_description = (
        f"Line 1: the session id ({USE_EXACT_ID.lower()}, or 'current'). "
        "The following lines: the message."
    )

    async def run(self, content: str, call: Call) -> dict[str, Any]:
        given, _, message = content.partition("\n")
        if not given.strip() or not message.strip():
            raise ToolError("Need 2 lines: session id, then the message")
        session_id = call.session_id(given)
        name, reply = "", None
        with about_session(session_id):
            async for event in call.client.send(session_id, message):
                if event.HasField("started"):
                    name = event.started.session_name
                elif event.HasField("completed"):
                    reply = event.completed.assistant_message.content
        if reply is None:
            raise ToolError("The reply ended before it was complete; try again.")
        return {"session_id": session_id, "session_name": name, "response": clipped(reply)}
