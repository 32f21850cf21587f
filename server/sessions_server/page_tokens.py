"""Opaque List page tokens, bound to the owner and the query that produced them.

A token carries the keyset position and a digest of (owner, query, filters,
position). A token presented by another owner or with another query, or whose
position was altered, does not match its digest and is refused. The digest is not
a secret: a caller who rebuilds it can only position itself within its own rows,
since every statement filters by the owner anyway.
"""

import base64
import binascii
import hashlib
import json
import uuid
from datetime import datetime

from sessions_server.errors import InvalidPageToken
from sessions_server.models import Cursor, ListQuery

# Real tokens are about 150 characters; anything much longer is not one of ours.
MAX_TOKEN_CHARS = 512


def _digest(owner: str, query: ListQuery, time: str, id_: str) -> str:
    material = json.dumps([owner, query.text, query.archived.value, query.starred_only, time, id_])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def encode(cursor: Cursor, owner: str, query: ListQuery) -> str:
    time, id_ = cursor.last_active_time.isoformat(), str(cursor.id)
    payload = {"t": time, "i": id_, "d": _digest(owner, query, time, id_)}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode(token: str, owner: str, query: ListQuery) -> Cursor:
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidPageToken()
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        time, id_, digest = payload["t"], payload["i"], payload["d"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidPageToken() from None
    if not all(isinstance(value, str) for value in (time, id_, digest)):
        raise InvalidPageToken()
    if digest != _digest(owner, query, time, id_):
        raise InvalidPageToken()
    try:
        cursor = Cursor(datetime.fromisoformat(time), uuid.UUID(id_))
    except ValueError:
        raise InvalidPageToken() from None
    if cursor.last_active_time.tzinfo is None:
        raise InvalidPageToken()
    return cursor
