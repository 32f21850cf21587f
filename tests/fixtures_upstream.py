"""The fake model endpoint every Send test talks to, and the API key it expects."""

import os
from collections.abc import AsyncIterator

import pytest

from tests.support.fake_upstream import API_KEY, API_KEY_ENV, FakeUpstream


@pytest.fixture(scope="session")
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    # Read from the environment at each call, as a rotated key would be; server
    # processes started by tests inherit it.
    os.environ[API_KEY_ENV] = API_KEY
    fake = FakeUpstream()
    await fake.start()
    yield fake
    await fake.stop()
    os.environ.pop(API_KEY_ENV, None)
