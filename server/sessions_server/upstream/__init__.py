"""Model endpoints: the OpenAI-compatible streaming client and the built-in echo."""

from sessions_server.upstream.client import Piece, Timeouts, Transport, Upstream

__all__ = ["Piece", "Timeouts", "Transport", "Upstream"]
