"""The sessions.v1 chat-session service."""
