"""Hostile input: bytes that are not a request, strings that are not UTF-8, and
Hypothesis-made requests for every RPC.

Unparsable bytes are INVALID_ARGUMENT `MALFORMED_REQUEST` (never gRPC's UNKNOWN with
the parser's text) and change nothing; no generated request gets INTERNAL or
UNKNOWN; the server stays healthy throughout.
"""

import asyncio
import uuid

import asyncpg
import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import strategies as st
from sessions_client import pb

from tests.conftest import Owner, Stub
from tests.support import descriptor, fuzz, rows
from tests.support.descriptor import Outcome
from tests.support.fake_upstream import MODEL
from tests.support.rpc import reason

NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"ok\xf0\x28\x8c\x28"]
STREAM_DEADLINE = 0.5
"""Streams that would go on (Watch) end here: DEADLINE_EXCEEDED is a fine answer."""


def _paths() -> list[tuple[MethodDescriptor, tuple[FieldDescriptor, ...]]]:
    return [
        (method, path)
        for method in descriptor.METHODS
        for path in fuzz.string_paths(method.input_type)
    ]


def _id(case: tuple[MethodDescriptor, tuple[FieldDescriptor, ...]]) -> str:
    method, path = case
    return ".".join([method.name, *(field.name for field in path)])


async def assert_healthy(channel: grpc.aio.Channel, stub: Stub, owner: Owner) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    checked = await health.Check(
        health_pb2.HealthCheckRequest(service=descriptor.SERVICE.full_name)
    )
    assert checked.status == health_pb2.HealthCheckResponse.SERVING
    await stub.List(pb.ListRequest(), metadata=owner.md)


async def _invoke(
    channel: grpc.aio.Channel, method: MethodDescriptor, request: object, owner: Owner
) -> Outcome:
    deadline = STREAM_DEADLINE if method.server_streaming else 10.0
    return await descriptor.invoke(channel, method, request, owner.md, deadline)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", _paths(), ids=_id)
async def test_invalid_utf8_in_a_string_is_refused_and_changes_nothing(
    case: tuple[MethodDescriptor, tuple[FieldDescriptor, ...]],
    channel: grpc.aio.Channel,
    stub: Stub,
    admin: asyncpg.Connection,
    owner: Owner,
) -> None:
    method, path = case
    await stub.Create(pb.CreateRequest(name="existing", model="m"), metadata=owner.md)
    before = await rows.snapshot(admin, owner.name)
    for payload in INVALID_UTF8:
        outcome = await _invoke(channel, method, fuzz.wire(path, payload), owner)
        assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, payload
        assert outcome.details == "the request is not a valid protobuf message of its type"
    assert await rows.snapshot(admin, owner.name) == before
    await assert_healthy(channel, stub, owner)


def _parses(method: MethodDescriptor, raw: bytes) -> bool:
    try:
        descriptor.request_class(method).FromString(raw)
    except DecodeError:
        return False
    return True


@pytest.mark.parametrize("method", descriptor.METHODS, ids=lambda m: m.name)
async def test_random_bytes_are_refused_or_served_never_failed(
    method: MethodDescriptor,
    channel: grpc.aio.Channel,
    stub: Stub,
    admin: asyncpg.Connection,
    owner: Owner,
) -> None:
    async def check(raw: bytes) -> None:
        before = await rows.snapshot(admin, owner.name)
        outcome = await _invoke(channel, method, raw, owner)
        assert outcome.code not in NEVER, (raw, outcome)
        if not _parses(method, raw):
            assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, (raw, outcome)
            assert await rows.snapshot(admin, owner.name) == before

    loop = asyncio.get_running_loop()
    await asyncio.to_thread(fuzz.explore, st.binary(max_size=96), check, loop, 40)
    await assert_healthy(channel, stub, owner)


@pytest.mark.parametrize("method", descriptor.METHODS, ids=lambda m: m.name)
async def test_generated_requests_never_fail_internally(
    method: MethodDescriptor, channel: grpc.aio.Channel, stub: Stub, owner: Owner
) -> None:
    sessions = [
        (await stub.Create(pb.CreateRequest(name=name, model=model), metadata=owner.md)).session.id
        for name, model in (("echo chat", "m"), ("model chat", MODEL))
    ]
    session_ids = st.one_of(
        st.sampled_from([*sessions, "current", "", str(uuid.uuid4())]), st.text(max_size=40)
    )
    words = st.text(st.characters(categories=["L", "N", "Zs", "P"]), min_size=1, max_size=80)
    hints = {
        "session_id": session_ids,
        "current_session_id": session_ids,
        "model": st.one_of(st.sampled_from(["m", MODEL, "m@echo", "m@nowhere"]), st.text()),
        "name": st.one_of(words, st.text()),
        "content": st.one_of(words, st.text()),
    }
    strategy = fuzz.messages(method.input_type, hints)

    async def check(request: object) -> None:
        outcome = await _invoke(channel, method, request, owner)
        assert outcome.code not in NEVER, (request, outcome)

    loop = asyncio.get_running_loop()
    await asyncio.to_thread(fuzz.explore, strategy, check, loop, 30)
    await assert_healthy(channel, stub, owner)


async def test_unparsable_request_is_unauthenticated_before_it_is_invalid(
    channel: grpc.aio.Channel,
) -> None:
    create = descriptor.SERVICE.methods_by_name["Create"]
    outcome = await descriptor.invoke(channel, create, b"\x0a\x01\xff")
    assert outcome.code is grpc.StatusCode.UNAUTHENTICATED


async def test_malformed_request_carries_its_reason(
    channel: grpc.aio.Channel, owner: Owner
) -> None:
    create = channel.unary_unary(
        descriptor.path(descriptor.SERVICE.methods_by_name["Create"]), None, None
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await create(b"\x0a\x01\xff", metadata=owner.md)
    assert reason(raised.value) == (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST")
