"""What the four tools share: the context they run in, their schema, errors as text.

A tool never raises to the agent runtime: bad input and failed calls come back as
`{"error": "..."}` worded for the model, so it can correct itself and try again.
"""

import abc
import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict

from sessions_client._client import SessionsClient
from sessions_client._errors import SessionsError

log = logging.getLogger("sessions_client.tools")

AGENT = "agent"
CURRENT = "current"
USE_EXACT_ID = "Use the exact id from list_sessions"


class Principal(TypedDict, total=False):
    """Whom the agent acts for.

    In production `token` is a bearer token issued for the agent (its `actor`
    claim says `agent`); in development mode `owner` names the user.
    """

    owner: str
    token: str


class ToolContext(TypedDict, total=False):
    """The `ctx` every tool takes.

    `client` is required: the `SessionsClient` the tool calls through (its own
    identity is used when `principal` is absent). `session_id` is the agent's
    current session, which `current` stands for.
    """

    client: SessionsClient
    session_id: str
    principal: Principal


class ToolError(Exception):
    """Input the tool cannot use; the message is what the model reads."""


@dataclass(frozen=True)
class Call:
    """One execution's resolved context: a client acting as an agent, and `current`."""

    client: SessionsClient
    current_session_id: str

    @classmethod
    def from_ctx(cls, ctx: Mapping[str, Any]) -> "Call":
        client = ctx.get("client")
        if not isinstance(client, SessionsClient):
            raise ToolError("The tool is not connected: ctx['client'] must be a SessionsClient")
        principal = ctx.get("principal") or {}
        if not isinstance(principal, Mapping):
            raise ToolError("ctx['principal'] must be a mapping with 'owner' or 'token'")
        agent = client.with_identity(
            token=principal.get("token"), owner=principal.get("owner"), actor=AGENT
        )
        return cls(agent, str(ctx.get("session_id") or ""))

    def session_id(self, given: str) -> str:
        """The id a tool was given, with `current` standing for the agent's session."""
        given = given.strip()
        if given.lower() != CURRENT:
            return given
        if not self.current_session_id:
            raise ToolError(f"There is no current session here. {USE_EXACT_ID}.")
        return self.current_session_id


def describe(error: SessionsError, session_id: str = "") -> str:
    """A failed call, told to the model with what to do about it."""
    match error.reason:
        case "SESSION_NOT_FOUND":
            return f"Session '{session_id}' not found. {USE_EXACT_ID} (or 'current')."
        case "SESSION_STARRED":
            return (
                "This session is marked important and cannot be deleted. "
                "Only the user can remove the mark."
            )
        case "SESSION_IS_CURRENT":
            return "This is the current session: it cannot be deleted from inside itself."
        case "UNSTAR_FORBIDDEN":
            return (
                "Only the user can remove the important mark; "
                "an agent can mark a session important but not unmark it."
            )
        case "SESSION_BUSY" | "REQUEST_IN_PROGRESS":
            return "The session is busy with a reply in progress; try again once it has finished."
    return f"{error.message} ({error.reason})"


@contextlib.contextmanager
def about_session(session_id: str) -> Iterator[None]:
    """Failed calls inside are told to the model naming `session_id`."""
    try:
        yield
    except SessionsError as error:
        raise ToolError(describe(error, session_id)) from error


class Tool(abc.ABC):
    """An agent tool: `await tool.execute(content, ctx)` -> a dict, never an exception."""

    name: ClassVar[str]
    description: ClassVar[str]
    content_description: ClassVar[str]

    @property
    def schema(self) -> dict[str, Any]:
        """The tool as an OpenAI function-calling definition (`tools=[...]`)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": {
                        "content": {"type": "string", "description": self.content_description}
                    },
                    "required": ["content"],
                    "additionalProperties": False,
                },
            },
        }

    async def execute(self, content: str, ctx: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return await self.run(content, Call.from_ctx(ctx))
        except ToolError as error:
            return {"error": str(error)}
        except SessionsError as error:
            return {"error": describe(error)}
        except Exception as error:
            # The runtime gets an answer whatever happens; the log keeps the cause.
            log.exception("tool %s failed", self.name)
            return {"error": f"{self.name} failed unexpectedly ({type(error).__name__})"}

    @abc.abstractmethod
    async def run(self, content: str, call: Call) -> dict[str, Any]:
        """The tool's work; raises ToolError or SessionsError to answer with an error."""
