"""Create, Get and List: the rules around reading and making sessions.

Plain async methods over the store, testable without gRPC; the servicer converts
their arguments and results.
"""

import hashlib
import json
from dataclasses import dataclass

from sessions_server import page_tokens, validation
from sessions_server.auth import Principal
from sessions_server.endpoints import Registry
from sessions_server.errors import (
    InvalidArgument,
)
from sessions_server.models import ListQuery, Message, NewSession, Session
from sessions_server.store import Store
from sessions_server.store import sessions as session_rows

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_MESSAGES_LIMIT = 1000


@dataclass(frozen=True)
class CreateInput:
    name: str
    model: str
    system_prompt: str = ""
    labels: dict[str, str] | None = None
    request_id: str = ""


@dataclass(frozen=True)
class ListPage:
    sessions: list[Session]
    next_page_token: str
    total_size: int


def fingerprint(method: str, payload: object) -> str:
    """A digest of a request's payload, to tell a retry from a reuse of its id."""
    material = json.dumps([method, payload], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


class SessionOperations:
    def __init__(self, store: Store, registry: Registry) -> None:
        self._store = store
        self._registry = registry

    async def create(self, principal: Principal, given: CreateInput) -> Session:
        name = validation.name(given.name)
        resolved = self._registry.resolve(given.model, principal.owner)
        new = NewSession(
            name=name,
            model=resolved.model,
            endpoint=resolved.endpoint.name,
            system_prompt=validation.text(
                given.system_prompt,
                "system_prompt",
                max_chars=validation.SYSTEM_PROMPT_MAX_CHARS,
                required=False,
            ),
            labels=validation.labels(given.labels or {}),
        )
        request_id = validation.one_line(
            given.request_id, "request_id", max_chars=validation.REQUEST_ID_MAX_CHARS
        )
        digest = ""
        if request_id:
            digest = fingerprint("Create", [given.name, given.model, new.system_prompt, new.labels])
        return await session_rows.create(self._store, principal.owner, new, request_id, digest)

    async def get(
        self, principal: Principal, session_id: str, messages_limit: int, before_seq: int
    ) -> tuple[Session, list[Message], bool]:
        sid = validation.session_id(session_id)
        if not 0 <= messages_limit <= MAX_MESSAGES_LIMIT:
            raise InvalidArgument.field("messages_limit", f"must be 0..{MAX_MESSAGES_LIMIT}")
        validation.non_negative(before_seq, "before_seq")
        return await session_rows.read(
            self._store, principal.owner, sid, messages_limit, before_seq
        )

    async def list(
        self, principal: Principal, query: ListQuery, page_size: int, page_token: str
    ) -> ListPage:
        if page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        validation.one_line(query.text, "query", max_chars=validation.QUERY_MAX_CHARS)
        after = page_tokens.decode(page_token, principal.owner, query) if page_token else None
        page = await session_rows.page(self._store, principal.owner, query, after, size)
        token = ""
        if page.next_cursor is not None:
            token = page_tokens.encode(page.next_cursor, principal.owner, query)
        return ListPage(page.sessions, token, page.total_size)
