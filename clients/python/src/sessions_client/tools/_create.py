"""`create_session`: content "name\nmodel spec" (further lines: the system prompt)."""

from typing import Any

from sessions_client._errors import InvalidArgument
from sessions_client.tools._tool import Call, Tool, ToolError


class CreateSession(Tool):
    name = "create_session"
    description = (
        "Create a new chat session bound to a model. Returns the new session's id, "
        "name, model and endpoint URL."
    )
    content_description = (
        "Line 1: the session name. Line 2: the model spec, 'model' or 'model@endpoint'. "
        "Any further lines: the session's system prompt (optional)."
    )

    async def run(self, content: str, call: Call) -> dict[str, Any]:
        lines = content.splitlines()
        if len(lines) < 2:
            raise ToolError("Need 2 lines: session name, then model spec")
        name, model = lines[0].strip(), lines[1].strip()
        if not name:
            raise ToolError("Session name cannot be empty")
        if not model:
            raise ToolError("Model spec cannot be empty: give 'model' or 'model@endpoint'")
        try:
            session = await call.client.create(
                name, model, system_prompt="\n".join(lines[2:]).strip()
            )
        except InvalidArgument as error:
            if error.reason != "MODEL_UNKNOWN":
                raise
            raise ToolError(
                f"Unknown model '{model}': no endpoint offers it to this user. "
                "Give 'model' or 'model@endpoint' with a model an endpoint offers."
            ) from error
        return {
            "session_id": session.id,
            "name": session.name,
            "model": session.model,
            "endpoint_url": session.endpoint_url,
        }
