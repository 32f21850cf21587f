"""Send streams the model's reply and stores both messages: what the endpoint is
sent, what the caller sees, and what Get shows afterwards."""

import pytest
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import API_KEY, MODEL, FakeUpstream, Script, token
from tests.support.sending import kinds, messages, new_session, send, streamed_text


async def test_send_streams_reply_and_stores_both_messages(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner, system_prompt="Be brief.")
    # Tokens far enough apart that each arrives on its own and makes its own delta.
    script = Script(tokens=4, delay=0.05)

    responses = await send(stub, owner, session.id, script.say("first question"))

    assert kinds(responses) == ["started"] + ["delta"] * 4 + ["completed"]
    assert [r.delta.text for r in responses[1:-1]] == [token(i) for i in range(4)]
    started, completed = responses[0].started, responses[-1].completed
    assert started.session_name == "chat"
    assert started.user_message.role == pb.ROLE_USER
    assert started.user_message.content == script.say("first question")
    assert completed.assistant_message.role == pb.ROLE_ASSISTANT
    assert completed.assistant_message.content == script.reply == streamed_text(responses)
    assert completed.assistant_message.status == pb.MESSAGE_STATUS_COMPLETE
    assert not completed.replayed
    assert completed.assistant_message.seq > started.user_message.seq


async def test_endpoint_receives_system_prompt_history_model_key_and_headers(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner, system_prompt="Be brief.")
    first, second = Script(tokens=2), Script(tokens=3)
    await send(stub, owner, session.id, first.say("one"))

    await send(stub, owner, session.id, second.say("two"))

    [received] = fake_upstream.received(second)
    assert received.body["model"] == MODEL
    assert received.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": first.say("one")},
        {"role": "assistant", "content": first.reply},
        {"role": "user", "content": second.say("two")},
    ]
    assert received.body["stream"] is True
    assert received.body["stream_options"] == {"include_usage": True}
    assert received.body["temperature"] == 0.25
    assert received.headers["authorization"] == f"Bearer {API_KEY}"
    assert received.headers["x-team"] == "core"


async def test_get_shows_both_messages_counters_and_usage(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=4)

    responses = await send(stub, owner, session.id, script.say("count words"))

    got = await stub.Get(pb.GetRequest(session_id=session.id, messages_limit=10), metadata=owner.md)
    user, reply = got.messages
    assert [user.role, reply.role] == [pb.ROLE_USER, pb.ROLE_ASSISTANT]
    assert user.seq < reply.seq
    assert user == responses[0].started.user_message
    assert reply == responses[-1].completed.assistant_message
    assert got.session.message_count == 2
    assert got.session.last_active_time.ToDatetime() > session.last_active_time.ToDatetime()
    [received] = fake_upstream.received(script)
    prompt_words = sum(len(m["content"].split()) for m in received.body["messages"])
    assert reply.usage == pb.Usage(prompt_tokens=prompt_words, completion_tokens=4)
    assert not user.HasField("usage")


async def test_reply_without_usage_chunk_stores_no_usage(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)

    responses = await send(stub, owner, session.id, Script(usage=False).say())

    assert not responses[-1].completed.assistant_message.HasField("usage")
    stored = await messages(stub, owner, session.id)
    assert not stored[-1].HasField("usage")


async def test_tokens_that_arrive_together_may_come_as_one_delta(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=300)

    responses = await send(stub, owner, session.id, script.say())

    assert kinds(responses) == ["started"] + ["delta"] * (len(responses) - 2) + ["completed"]
    assert streamed_text(responses) == script.reply
    assert responses[-1].completed.assistant_message.content == script.reply


async def test_ping_comments_are_ignored(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    script = Script(tokens=5, ping=True)

    responses = await send(stub, owner, session.id, script.say())

    assert streamed_text(responses) == script.reply
    assert responses[-1].completed.assistant_message.content == script.reply


async def test_echo_endpoint_streams_the_words_back(stub: Stub, owner: Owner) -> None:
    session = await new_session(stub, owner, model="anything")
    assert session.endpoint == "echo"

    responses = await send(stub, owner, session.id, "hello brave new world")

    assert kinds(responses)[1:-1] == ["delta"] * (len(responses) - 2)
    assert streamed_text(responses) == "hello brave new world"
    assert responses[-1].completed.assistant_message.content == "hello brave new world"
    assert [m.role for m in await messages(stub, owner, session.id)] == [
        pb.ROLE_USER,
        pb.ROLE_ASSISTANT,
    ]


async def test_seq_keeps_increasing_across_sends(stub: Stub, owner: Owner) -> None:
    session = await new_session(stub, owner, model="anything")
    for word in ["a", "b", "c"]:
        await send(stub, owner, session.id, word)

    stored = await messages(stub, owner, session.id)

    assert [m.seq for m in stored] == sorted({m.seq for m in stored})
    assert [m.content for m in stored] == ["a", "a", "b", "b", "c", "c"]


# Cookie jars refuse cookies from a bare IP address; one from a host name is the test.
@pytest.mark.parametrize("model", [MODEL, f"{MODEL}@fake-by-name"], ids=["address", "host-name"])
async def test_a_cookie_an_endpoint_sets_is_not_sent_on_later_requests(
    stub: Stub, owner: Owner, other_owner: Owner, fake_upstream: FakeUpstream, model: str
) -> None:
    # One client serves every owner: what an endpoint told one caller stays there.
    setting, later = Script(set_cookie="affinity=owner-a; Path=/"), Script()
    await send(stub, owner, (await new_session(stub, owner, model=model)).id, setting.say())

    await send(
        stub, other_owner, (await new_session(stub, other_owner, model=model)).id, later.say()
    )

    [received] = fake_upstream.received(later)
    assert "cookie" not in received.headers
