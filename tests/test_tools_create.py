"""`create_session` through the real server: its result and its exact error texts."""

from typing import Any

from sessions_client import SessionsClient
from sessions_client.tools import ToolContext, create_session


async def test_create_session_returns_the_new_session(
    tool_ctx: ToolContext, client: SessionsClient
) -> None:
    result = await create_session.execute("  Research notes \ndemo@echo\n", dict(tool_ctx))
    assert set(result) == {"session_id", "name", "model", "endpoint_url"}
    assert (result["name"], result["model"]) == ("Research notes", "demo")
    stored = (await client.get(result["session_id"])).session
    assert stored.endpoint_url == result["endpoint_url"]
    assert stored.endpoint == "echo"


async def test_further_lines_become_the_system_prompt(
    tool_ctx: ToolContext, client: SessionsClient
) -> None:
    result = await create_session.execute("Poet\ndemo\nAnswer in verse.\nBriefly.", dict(tool_ctx))
    stored = (await client.get(result["session_id"])).session
    assert stored.system_prompt == "Answer in verse.\nBriefly."


async def test_one_line_needs_two(tool_ctx: ToolContext) -> None:
    result = await create_session.execute("only a name", dict(tool_ctx))
    assert result == {"error": "Need 2 lines: session name, then model spec"}


async def test_empty_name_is_refused(tool_ctx: ToolContext, client: SessionsClient) -> None:
    result = await create_session.execute("   \ndemo", dict(tool_ctx))
    assert result == {"error": "Session name cannot be empty"}
    assert (await client.list()).total_size == 0


async def test_unknown_model_is_an_error_not_an_exception(tool_ctx: ToolContext) -> None:
    result = await create_session.execute("x\ndemo@nowhere", dict(tool_ctx))
    assert result == {
        "error": "Unknown model 'demo@nowhere': no endpoint offers it to this user. "
        "Give 'model' or 'model@endpoint' with a model an endpoint offers."
    }


async def test_context_without_a_client_is_an_error() -> None:
    ctx: dict[str, Any] = {"session_id": "s"}
    result = await create_session.execute("x\ndemo", ctx)
    assert result == {"error": "The tool is not connected: ctx['client'] must be a SessionsClient"}


async def test_context_with_a_malformed_principal_is_an_error(tool_ctx: ToolContext) -> None:
    ctx: dict[str, Any] = {**tool_ctx, "principal": "alice"}
    result = await create_session.execute("x\ndemo", ctx)
    assert result == {"error": "ctx['principal'] must be a mapping with 'owner' or 'token'"}
