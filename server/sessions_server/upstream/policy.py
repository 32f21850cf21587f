"""When to try a model endpoint again, and how long to wait first.

The policy of the OpenAI SDK: connection failures, 408, 409, 429 and 5xx are
retried up to twice with jittered exponential backoff, honouring `Retry-After`;
400, 401, 403, 404 (and any other 4xx) are the endpoint refusing this request and
are not. Retries happen only before the first token, which the caller enforces.
"""

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from sessions_server.errors import (
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)

MAX_RETRIES = 2
MAX_BACKOFF = 8.0
_RETRYABLE_STATUSES = frozenset({408, 409, 429})


class Retryable(Exception):
    """A failure another attempt may cure; `error` is what the caller sees if none does."""

    def __init__(self, error: UpstreamError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


def failure(status: int, headers: Mapping[str, str]) -> Retryable | UpstreamError:
    """What a non-success answer means. Its body is never read: it stays upstream."""
    if status == 429:
        return Retryable(UpstreamRateLimited(), retry_after(headers))
    if status in _RETRYABLE_STATUSES or status >= 500:
        return Retryable(UpstreamUnavailable(), retry_after(headers))
    if 400 <= status < 500:
        return UpstreamRejected(f"the model endpoint rejected the request (HTTP {status})")
    return UpstreamUnavailable(f"the model endpoint answered HTTP {status}")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the endpoint asks us to wait: `retry-after-ms`, or `Retry-After` as
    seconds or an HTTP date; None when absent or unreadable. `headers` looks names
    up regardless of case, as the HTTP client's do."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def backoff(retries: int, base: float, asked: float | None) -> float:
    """The pause before retry number `retries + 1`: what the endpoint asked for, or
    `base` doubled per retry, capped, less up to a quarter of jitter."""
    if asked is not None:
        return asked
    doubled: float = base * 2.0**retries
    return min(doubled, MAX_BACKOFF) * (1 - 0.25 * random.random())
