"""The OpenAI-compatible chat completions protocol: the request and its SSE chunks.

    POST {url}/chat/completions   {"model", "messages", "stream": true,
                                   "stream_options": {"include_usage": true}, ...params}
    data: {"choices": [{"delta": {"content": "Hel"}, "finish_reason": null}]}
    data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}
    data: {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    data: [DONE]

Servers differ: some send `: ping` comments (the SSE decoder drops them), some no
usage chunk (usage then stays unknown rather than invented).
"""

import json
from collections.abc import Mapping, Sequence
from json.scanner import make_scanner
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


class Progress:
    """What the chunks of one reply have said so far: its usage, whether it finished,
    how many of them carried text."""

    __slots__ = ("done", "failure", "finished", "texts", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.finished = False
        """A finish reason or `[DONE]` came: the stream may end now."""
        self.done = False
        """`[DONE]` came: nothing after it is read."""
        self.texts = 0
        self.failure: UpstreamUnavailable | None = None
        """A chunk that was an error or not a chunk; `take` stops there."""

    def take(self, payloads: list[str]) -> str:
        """The text of these `data:` payloads, in order, up to `[DONE]` or a failure."""
        text = ""
        for data in payloads:
            if data == DONE:
                self.done = self.finished = True
                break
            if data:  # an empty event, such as a keep-alive, says nothing
                try:
                    text += self._take(_json(data))
                except UpstreamUnavailable as failure:
                    self.failure = failure
                    break
                except (ValueError, TypeError, AttributeError):
                    self.failure = UpstreamUnavailable("the model endpoint sent a malformed reply")
                    break
        # PostgreSQL's text cannot hold U+0000: the reply carries U+FFFD in its place,
        # streamed as stored.
        return text.replace("\x00", "\ufffd") if "\x00" in text else text

    def _take(self, chunk: Any) -> str:
        if "error" in chunk:
            raise UpstreamUnavailable("the model endpoint failed mid-reply")
        text = ""
        for choice in chunk.get("choices") or ():
            text += choice.get("delta", {}).get("content") or ""
            self.finished = self.finished or bool(choice.get("finish_reason"))
        if counts := chunk.get("usage"):
            self.usage = _usage(counts) or self.usage
        self.texts += bool(text)
        return text


# typeshed has the scanner take a scanner; it takes the decoder whose settings it uses.
_scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _json(data: str) -> Any:
    """`json.loads(data)`, at a third of its cost when `data` is one bare JSON value
    (as a chunk is): its scanner, without the layers around it."""
    try:
        value, end = _scan(data, 0)
    except StopIteration:
        return json.loads(data)
    return value if end == len(data) else json.loads(data)


def _usage(counts: Any) -> Usage | None:
    """The token counts when the chunk reports them; None rather than a guess."""
    if not ({"prompt_tokens", "completion_tokens"} & counts.keys()):
        return None
    return Usage(int(counts.get("prompt_tokens") or 0), int(counts.get("completion_tokens") or 0))
