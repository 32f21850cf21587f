"""The context sent with a Send: the system prompt, then the newest stored
messages within SESSIONS_CONTEXT_MAX_MESSAGES and SESSIONS_CONTEXT_MAX_BYTES."""

from typing import Any

from sessions_server.config import Settings

from tests.conftest import Owner
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.sending import new_session, send
from tests.support.servers import server_with


def contents(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"]]


async def test_context_keeps_the_newest_messages(
    settings: Settings, database_url: str, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    async with server_with(settings, database_url, context_max_messages=3) as stub:
        session = await new_session(stub, owner, system_prompt="Stay on topic.")
        first, second, third = Script(tokens=1), Script(tokens=2), Script(tokens=3)
        await send(stub, owner, session.id, first.say("one"))
        await send(stub, owner, session.id, second.say("two"))

        await send(stub, owner, session.id, third.say("three"))

    [received] = fake_upstream.received(third)
    assert contents(received.body) == [
        "Stay on topic.",
        second.say("two"),
        second.reply,
        third.say("three"),
    ]


async def test_context_keeps_what_fits_in_the_byte_budget_and_always_the_new_message(
    settings: Settings, database_url: str, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    first, second = Script(tokens=2), Script(tokens=2)
    budget = len(first.reply) + len(second.say("two"))
    async with server_with(settings, database_url, context_max_bytes=budget) as stub:
        session = await new_session(stub, owner)
        await send(stub, owner, session.id, first.say("one"))

        await send(stub, owner, session.id, second.say("two"))
        huge = Script(tokens=1)
        await send(stub, owner, session.id, huge.say("x" * (budget + 1)))

    [fits] = fake_upstream.received(second)
    assert contents(fits.body) == [first.reply, second.say("two")]
    [alone] = fake_upstream.received(huge)
    assert contents(alone.body) == [huge.say("x" * (budget + 1))]
