"""PostgreSQL storage. Every statement runs inside an owner's `Scope` and filters by it."""

from sessions_server.store.scope import Scope, Store

__all__ = ["Scope", "Store"]
