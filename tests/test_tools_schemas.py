"""Each tool ships an OpenAI function-calling definition that matches its `execute`."""

import inspect
import json

from sessions_client.tools import TOOLS, TOOLS_BY_NAME


def test_every_tool_has_a_function_definition_taking_content() -> None:
    assert [tool.name for tool in TOOLS] == [
        "create_session",
        "list_sessions",
        "send_to_session",
        "manage_session",
    ]
    for tool in TOOLS:
        schema = json.loads(json.dumps(tool.schema))
        assert schema["type"] == "function"
        function = schema["function"]
        assert function["name"] == tool.name
        assert len(function["description"]) > 40
        assert function["parameters"] == {
            "type": "object",
            "properties": {"content": {"type": "string", "description": tool.content_description}},
            "required": ["content"],
            "additionalProperties": False,
        }
        assert list(inspect.signature(tool.execute).parameters) == ["content", "ctx"]
        assert TOOLS_BY_NAME[tool.name] is tool


def test_manage_definition_names_every_action() -> None:
    description = TOOLS_BY_NAME["manage_session"].schema["function"]["parameters"]["properties"][
        "content"
    ]["description"]
    for action in (
        "list",
        "switch",
        "rename",
        "archive",
        "unarchive",
        "delete",
        "important",
        "unimportant",
        "truncate",
        "fork",
    ):
        assert action in description
