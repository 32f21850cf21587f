"""The built-in `echo` endpoint: streams the user's words back, without any HTTP.

For demos and tests of everything around the model: one piece per word, no usage.
"""

import re
from collections.abc import AsyncGenerator, Sequence

from sessions_server.models import Role, Turn, Usage

_WORDS = re.compile(r"\s*\S+")


async def reply(turns: Sequence[Turn]) -> AsyncGenerator[str | Usage, None]:
    last = next((turn.content for turn in reversed(turns) if turn.role is Role.USER), "")
    for word in _WORDS.findall(last):
        yield word
