"""Hostile requests: strategies built from message descriptors, hand-made wire bytes,
and a way to run Hypothesis against the async server from an async test.

Strategies follow the descriptor, so a field added to the contract is fuzzed
without touching the tests. `hints` steer chosen fields (session ids) towards
values that reach deeper than random text would.
"""

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, TypeVar

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T = TypeVar("T")
Hints = Mapping[str, st.SearchStrategy[Any]]

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_STRING: st.text(max_size=300),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=64),
}


def _value(field: FieldDescriptor, hints: Hints, depth: int) -> st.SearchStrategy[Any]:
    if field.name in hints:
        return hints[field.name]
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        known = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(known), INT32)  # proto3 enums are open
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return messages(_nested(field), hints, depth + 1)
    return _SCALARS[field.type]


def _nested(field: FieldDescriptor) -> Descriptor:
    assert field.message_type is not None
    return field.message_type


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and bool(
        _nested(field).GetOptions().map_entry
    )


def _field(field: FieldDescriptor, hints: Hints, depth: int) -> st.SearchStrategy[Any]:
    if _is_map(field):
        entry = _nested(field).fields_by_name
        key, value = entry["key"], entry["value"]
        return st.dictionaries(_value(key, hints, depth), _value(value, hints, depth), max_size=4)
    if field.is_repeated:
        return st.lists(_value(field, hints, depth), max_size=3)
    return _value(field, hints, depth)


def _set(message: Message, field: FieldDescriptor, value: Any) -> None:
    target = getattr(message, field.name)
    if _is_map(field):
        target.update(value)
    elif field.is_repeated:
        target.extend(value)
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)


Chosen = list[tuple[FieldDescriptor, Any]]


def _set_one(field: FieldDescriptor, hints: Hints, depth: int) -> st.SearchStrategy[Chosen]:
    return _field(field, hints, depth).map(lambda value: [(field, value)])


def messages(
    descriptor: Descriptor, hints: Hints | None = None, depth: int = 0
) -> st.SearchStrategy[Any]:
    """Messages of `descriptor`: any field may be set or not, at most one member of
    each oneof is; nesting stops at a small depth."""
    hints = hints or {}
    cls = GetMessageClass(descriptor)
    if depth > 3:
        return st.builds(cls)
    # proto3 `optional` fields sit alone in a synthetic oneof: treat them as fields.
    choices = [o for o in descriptor.oneofs if o.name != f"_{o.fields[0].name}"]
    in_choice = {f.name for o in choices for f in o.fields}
    plain = [f for f in descriptor.fields if f.name not in in_choice]
    parts: list[st.SearchStrategy[Chosen]] = [
        st.one_of(st.just([]), _set_one(f, hints, depth)) for f in plain
    ]
    parts += [
        st.one_of(st.just([]), *(_set_one(f, hints, depth) for f in choice.fields))
        for choice in choices
    ]

    def build(chosen: list[Chosen]) -> Message:
        message = cls()
        for field, value in (pair for group in chosen for pair in group):
            _set(message, field, value)
        return message

    return st.tuples(*parts).map(lambda chosen: build(list(chosen)))


def string_paths(
    descriptor: Descriptor, prefix: tuple[FieldDescriptor, ...] = ()
) -> Iterator[tuple[FieldDescriptor, ...]]:
    """Every string field reachable from `descriptor`, as the path of fields to it."""
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            yield (*prefix, field)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and len(prefix) < 3:
            yield from string_paths(_nested(field), (*prefix, field))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def wire(path: tuple[FieldDescriptor, ...], payload: bytes) -> bytes:
    """The bytes of a message holding `payload` as the string at `path`, nested
    messages included, written by hand so that the payload need not be valid."""
    data = payload
    for field in reversed(path):
        data = _varint(field.number << 3 | 2) + _varint(len(data)) + data
    return data


def explore(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Coroutine[Any, Any, None]],
    loop: asyncio.AbstractEventLoop,
    examples: int,
) -> None:
    """Runs `check` on `examples` values of `strategy` (blocking: call it in a worker
    thread while `loop`, which runs the server, stays free)."""

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(value: T) -> None:
        asyncio.run_coroutine_threadsafe(check(value), loop).result(timeout=60)

    run()
