"""A Send refused its session says why, as of the moment it was refused: a Send
right behind one that is ending is told SESSION_BUSY (or simply runs), never
TOO_MANY_SENDS."""

import grpc
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support.fake_upstream import FakeUpstream, Script
from tests.support.rpc import reason
from tests.support.sending import eventually, lease_free, new_session, read


async def test_a_send_right_after_a_cancelled_one_is_never_too_many_sends(
    stub: Stub, owner: Owner, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(stub, owner)
    outcomes: list[str] = []
    for _ in range(60):
        await eventually(lambda: lease_free(stub, owner, session.id))
        first = stub.Send(
            pb.SendRequest(session_id=session.id, content=Script(tokens=50, delay=0.01).say()),
            metadata=owner.md,
        )
        await read(first)
        first.cancel()
        second = stub.Send(
            pb.SendRequest(session_id=session.id, content=Script(tokens=1).say()),
            metadata=owner.md,
        )
        try:
            async for _ in second:
                pass
            outcomes.append("sent")
        except grpc.aio.AioRpcError as error:
            outcomes.append(reason(error)[1])

    assert set(outcomes) <= {"sent", "SESSION_BUSY"}, outcomes
