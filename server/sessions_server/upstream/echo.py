"""The built-in `echo` endpoint: streams the user's words back, without any HTTP.

For demos and tests of everything around the model: one piece per word, no usage.
"""

import re
from collections.abc import Sequence

from sessions_server.models import Role, Turn, Usage

_WORDS = re.compile(r"\s*\S+")


class Words:
    """The words of the last user message, one per `read`."""

    usage: Usage | None = None

    def __init__(self, turns: Sequence[Turn]) -> None:
        last = next((turn.content for turn in reversed(turns) if turn.role is Role.USER), "")
        words = _WORDS.findall(last)
        self.texts = len(words)
        self._words = iter(words)

    async def read(self) -> str | None:
        return next(self._words, None)

    async def aclose(self) -> None:
        pass
