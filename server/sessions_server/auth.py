"""Who is calling: authenticators that turn request metadata into a `Principal`.

`interceptor.CallInterceptor` runs the configured authenticator before every
handler and makes the principal available through `current_principal()` for the
whole call, streaming calls included.
"""

import contextvars
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sessions_server.errors import Unauthenticated

log = logging.getLogger(__name__)


class Actor(enum.StrEnum):
    USER = "user"
    AGENT = "agent"


@dataclass(frozen=True)
class Principal:
    owner: str
    actor: Actor


principal_var: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")


def current_principal() -> Principal:
    """The principal of the call being handled."""
    return principal_var.get()


Metadata = Sequence[tuple[str, str | bytes]]


class Authenticator(Protocol):
    def authenticate(self, metadata: Metadata) -> Principal:
        """The caller's principal, or raise `Unauthenticated`."""
        ...


def _metadata_value(metadata: Metadata, key: str) -> str | None:
    for item_key, value in metadata:
        if item_key == key:
            return value if isinstance(value, str) else None
    return None


def parse_actor(value: str | None) -> Actor:
    if value in (None, ""):
        return Actor.USER
    try:
        return Actor(value)
    except ValueError:
        raise Unauthenticated("actor must be 'user' or 'agent'") from None


MAX_OWNER_CHARS = 255


def checked_owner(owner: str | None) -> str:
    if not owner or len(owner) > MAX_OWNER_CHARS or not owner.isprintable():
        raise Unauthenticated()
    return owner


class InsecureAuthenticator:
    """Development mode: trusts the `x-owner` and `x-actor` metadata as sent."""

    def authenticate(self, metadata: Metadata) -> Principal:
        owner = checked_owner(_metadata_value(metadata, "x-owner"))
        return Principal(owner, parse_actor(_metadata_value(metadata, "x-actor")))
