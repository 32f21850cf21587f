"""Opaque List page tokens, bound to the owner and the query that produced them.

A token carries the keyset position and a digest of (owner, query, filters). A
token presented by another owner or with another query does not match the digest
and is refused; a forged one could only position the caller within its own rows.
"""

import base64
import binascii
import hashlib
import json
import uuid
from datetime import datetime

from sessions_server.errors import InvalidPageToken
from sessions_server.models import Cursor, ListQuery


def _binding(owner: str, query: ListQuery) -> str:
    material = json.dumps([owner, query.text, query.archived.value, query.starred_only])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def encode(cursor: Cursor, owner: str, query: ListQuery) -> str:
    payload = {
        "t": cursor.last_active_time.isoformat(),
        "i": str(cursor.id),
        "b": _binding(owner, query),
    }
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode(token: str, owner: str, query: ListQuery) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        binding = payload["b"]
        cursor = Cursor(datetime.fromisoformat(payload["t"]), uuid.UUID(payload["i"]))
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidPageToken() from None
    if binding != _binding(owner, query) or cursor.last_active_time.tzinfo is None:
        raise InvalidPageToken()
    return cursor
