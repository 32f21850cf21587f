"""The OpenAI-compatible chat completions protocol: the request and its SSE chunks.

    POST {url}/chat/completions   {"model", "messages", "stream": true,
                                   "stream_options": {"include_usage": true}, ...params}
    data: {"choices": [{"delta": {"content": "Hel"}, "finish_reason": null}]}
    data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}
    data: {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    data: [DONE]

Servers differ: some send `: ping` comments (the SSE parser drops them), some no
usage chunk (usage then stays unknown rather than invented).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sessions_server.errors import UpstreamUnavailable
from sessions_server.models import Role, Turn, Usage

DONE = "[DONE]"
_ROLES = {Role.SYSTEM: "system", Role.USER: "user", Role.ASSISTANT: "assistant"}


def request_body(
    model: str, system_prompt: str, turns: Sequence[Turn], params: Mapping[str, Any]
) -> dict[str, Any]:
    """The request: the endpoint's default params, overridden by what a Send needs."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.extend({"role": _ROLES[turn.role], "content": turn.content} for turn in turns)
    return {
        **params,
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    usage: Usage | None
    finished: bool


def parse_chunk(data: str) -> Chunk:
    """One `data:` payload; UpstreamUnavailable when it is not a chunk."""
    try:
        chunk = json.loads(data)
        if "error" in chunk:
            raise UpstreamUnavailable("the model endpoint failed mid-reply")
        text = ""
        finished = False
        for choice in chunk.get("choices") or ():
            text += choice.get("delta", {}).get("content") or ""
            finished = finished or bool(choice.get("finish_reason"))
        return Chunk(text, _usage(chunk.get("usage")), finished)
    except (ValueError, TypeError, AttributeError):
        raise UpstreamUnavailable("the model endpoint sent a malformed reply") from None


def _usage(counts: Any) -> Usage | None:
    """The token counts when the chunk reports them; None rather than a guess."""
    if not counts or not ({"prompt_tokens", "completion_tokens"} & counts.keys()):
        return None
    return Usage(int(counts.get("prompt_tokens") or 0), int(counts.get("completion_tokens") or 0))
