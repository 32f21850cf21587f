"""The server starts, serves health and reflection, and refuses anonymous calls."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support.rpc import reason


async def test_health_reports_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    response = await health.Check(
        health_pb2.HealthCheckRequest(service="sessions.v1.SessionService")
    )
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_call_without_owner_is_unauthenticated(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.List(pb.ListRequest())
    assert reason(raised.value) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


async def test_created_session_is_listed(stub: Stub, owner: Owner) -> None:
    created = await stub.Create(pb.CreateRequest(name="first", model="any"), metadata=owner.md)
    listed = await stub.List(pb.ListRequest(), metadata=owner.md)
    assert [s.id for s in listed.sessions] == [created.session.id]
    assert listed.total_size == 1
