"""Which endpoint answers are retried and how long the pause before a retry is."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from multidict import CIMultiDict
from sessions_server.errors import UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable
from sessions_server.upstream import policy


@pytest.mark.parametrize(
    ("status", "retried", "error"),
    [
        (408, True, UpstreamUnavailable),
        (409, True, UpstreamUnavailable),
        (429, True, UpstreamRateLimited),
        (500, True, UpstreamUnavailable),
        (503, True, UpstreamUnavailable),
        (400, False, UpstreamRejected),
        (401, False, UpstreamRejected),
        (403, False, UpstreamRejected),
        (404, False, UpstreamRejected),
        (422, False, UpstreamRejected),
    ],
)
def test_status_decides_retry_and_error(status: int, retried: bool, error: type) -> None:
    failure = policy.failure(status, CIMultiDict())

    assert isinstance(failure, policy.Retryable) == retried
    assert isinstance(failure.error if isinstance(failure, policy.Retryable) else failure, error)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_in_seconds(headers: dict[str, str], seconds: float | None) -> None:
    assert policy.retry_after(CIMultiDict(headers)) == seconds


def test_retry_after_as_an_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    waited = policy.retry_after(CIMultiDict({"Retry-After": when}))

    assert waited is not None
    assert 28 <= waited <= 30


def test_backoff_doubles_with_jitter_and_yields_to_the_endpoint() -> None:
    for retries, full in [(0, 0.5), (1, 1.0), (5, policy.MAX_BACKOFF)]:
        pause = policy.backoff(retries, 0.5, None)
        assert 0.75 * full <= pause <= full
    assert policy.backoff(0, 0.5, 3.0) == 3.0
