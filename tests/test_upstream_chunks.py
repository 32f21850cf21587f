"""What the chunks of a reply say: text in order, the finish, usage, failures."""

import json
from typing import Any

from sessions_server.errors import UpstreamUnavailable
from sessions_server.models import Usage
from sessions_server.upstream.openai import DONE, Progress


def _text(content: str, finish: str | None = None) -> str:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
    return json.dumps({"choices": [choice]})


def _usage(prompt: int, completion: int) -> str:
    counts: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion}
    return json.dumps({"choices": [], "usage": counts})


def test_the_text_of_several_chunks_is_joined_in_order() -> None:
    progress = Progress()

    assert progress.take([_text("Hel"), "", _text("lo")]) == "Hello"
    assert progress.texts == 2
    assert not progress.finished


def test_finish_usage_and_done_are_noted() -> None:
    progress = Progress()

    assert progress.take([_text("!", "stop"), _usage(9, 2), DONE, _text("after")]) == "!"
    assert (progress.finished, progress.done, progress.usage) == (True, True, Usage(9, 2))


def test_a_failure_keeps_the_text_before_it() -> None:
    for bad in ['{"choices": [{"delta": ', json.dumps({"error": {"message": "boom"}}), "[1]"]:
        progress = Progress()

        assert progress.take([_text("kept "), bad, _text("lost")]) == "kept "
        assert isinstance(progress.failure, UpstreamUnavailable)


def test_chunks_with_surrounding_space_parse_as_json_does() -> None:
    progress = Progress()

    assert progress.take([f"  {_text('a')} ", f"{_text('b')}\t"]) == "ab"
    assert progress.failure is None
