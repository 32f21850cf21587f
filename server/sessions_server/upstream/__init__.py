"""Model endpoints: the OpenAI-compatible streaming client and the built-in echo."""

from sessions_server.upstream.client import Timeouts, Upstream
from sessions_server.upstream.reply import Reply

__all__ = ["Reply", "Timeouts", "Upstream"]
