"""An endpoint's body that ends a while after its `[DONE]`: the reply is over at
`[DONE]`, the connection goes back to the pool once the body ends, and a body that
lags too long (more than a second) costs its connection instead."""

import asyncio
import time

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.sending import kinds, new_session, send


async def test_the_reply_is_over_at_done_and_the_connection_is_reused_once_the_body_ends(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    lagging, next_one = Script(end_lag=0.5), Script()

    started = time.monotonic()
    responses = await send(stub, owner, session.id, lagging.say())
    took = time.monotonic() - started
    [first] = fake_upstream.received(lagging)
    await asyncio.wait_for(first.answered.wait(), 5)
    await send(stub, owner, session.id, next_one.say())

    assert kinds(responses)[-1] == "completed"
    assert took < 0.5
    assert not first.disconnected.is_set()
    [second] = fake_upstream.received(next_one)
    assert second.client_port == first.client_port


async def test_a_body_that_lags_past_the_grace_is_closed_and_the_reply_kept(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    lagging = Script(end_lag=30.0)

    responses = await send(stub, owner, session.id, lagging.say())
    [received] = fake_upstream.received(lagging)
    await asyncio.wait_for(received.disconnected.wait(), 5)

    assert kinds(responses)[-1] == "completed"
    assert responses[-1].completed.assistant_message.content == lagging.reply
    assert not received.answered.is_set()
