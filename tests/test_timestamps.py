"""Every time in a response is the stored time, to the microsecond: sessions and
messages, after 1970 and before it."""

import datetime
import uuid

import asyncpg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support.sending import new_session, send

UTC = datetime.UTC


def exact(stamp: Timestamp) -> datetime.datetime:
    return datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(
        seconds=stamp.seconds, microseconds=stamp.nanos // 1000
    )


async def test_a_session_and_its_messages_carry_their_stored_times(
    stub: Stub, owner: Owner, admin: asyncpg.Connection
) -> None:
    session = await new_session(stub, owner, model="anything")
    await send(stub, owner, session.id, "hello")

    got = await stub.Get(pb.GetRequest(session_id=session.id, messages_limit=10), metadata=owner.md)

    stored = await admin.fetchrow(
        "SELECT create_time, update_time, last_active_time FROM sessions WHERE id = $1",
        uuid.UUID(session.id),
    )
    assert stored is not None
    assert exact(got.session.create_time) == stored["create_time"]
    assert exact(got.session.update_time) == stored["update_time"]
    assert exact(got.session.last_active_time) == stored["last_active_time"]
    message_times = await admin.fetch(
        "SELECT create_time FROM messages WHERE session_id = $1 ORDER BY seq",
        uuid.UUID(session.id),
    )
    assert len(got.messages) == 2
    assert [exact(m.create_time) for m in got.messages] == [r[0] for r in message_times]


@pytest.mark.parametrize(
    "when",
    [
        datetime.datetime(1969, 7, 20, 20, 17, 40, 123456, tzinfo=UTC),
        datetime.datetime(2038, 1, 19, 3, 14, 8, 999999, tzinfo=UTC),
        datetime.datetime(
            2026, 3, 29, 2, 30, 0, 1, tzinfo=datetime.timezone(-datetime.timedelta(hours=7))
        ),
    ],
    ids=["before 1970", "after 2038", "stored with an offset"],
)
async def test_times_far_from_now_come_back_exact(
    when: datetime.datetime, stub: Stub, owner: Owner, admin: asyncpg.Connection
) -> None:
    session = await new_session(stub, owner, model="anything")
    await admin.execute(
        "UPDATE sessions SET create_time = $1 WHERE id = $2", when, uuid.UUID(session.id)
    )

    got = await stub.Get(pb.GetRequest(session_id=session.id), metadata=owner.md)

    assert exact(got.session.create_time) == when
    assert got.session.create_time.nanos % 1000 == 0
