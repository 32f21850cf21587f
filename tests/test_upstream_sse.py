"""The SSE decoder returns each event's data however the stream is cut into chunks."""

import pytest
from sessions_server.upstream.sse import Decoder


def _decode(*chunks: bytes) -> list[str]:
    decoder = Decoder()
    return [data for chunk in chunks for data in decoder.feed(chunk)]


STREAMS = {
    "one event": (b'data: {"a": 1}\n\n', ['{"a": 1}']),
    "several events": (b"data: a\n\ndata: b\n\ndata: [DONE]\n\n", ["a", "b", "[DONE]"]),
    "crlf": (b"data: a\r\n\r\ndata: b\r\n\r\n", ["a", "b"]),
    "cr": (b"data: a\r\rdata: b\r\r", ["a", "b"]),
    "mixed line ends": (b"data: a\r\n\ndata: b\r\rdata: c\n\r\n", ["a", "b", "c"]),
    "comments": (b": ping\n\ndata: a\n: ping\n\n: ping\n\n", ["a"]),
    "other fields": (b"event: delta\nid: 7\nretry: 10\ndata: a\n\n", ["a"]),
    "multi-line data": (b"data: one\ndata:two\ndata:  three\n\n", ["one\ntwo\n three"]),
    "no space after the colon": (b"data:a\n\n", ["a"]),
    "empty data": (b"data:\n\ndata\n\ndata: \n\n", ["", "", ""]),
    "empty events": (b"\n\n\n\ndata: a\n\n\n\nevent: x\n\n", ["a"]),
    "unicode": ('data: {"t": "héllo 👋"}\n\n'.encode(), ['{"t": "héllo 👋"}']),
}


@pytest.mark.parametrize(("stream", "expected"), STREAMS.values(), ids=STREAMS.keys())
def test_whole_stream_in_one_chunk(stream: bytes, expected: list[str]) -> None:
    assert _decode(stream) == expected


@pytest.mark.parametrize(("stream", "expected"), STREAMS.values(), ids=STREAMS.keys())
def test_split_at_every_byte(stream: bytes, expected: list[str]) -> None:
    for cut in range(1, len(stream)):
        assert _decode(stream[:cut], stream[cut:]) == expected, f"cut at {cut}"


@pytest.mark.parametrize(("stream", "expected"), STREAMS.values(), ids=STREAMS.keys())
def test_one_byte_at_a_time(stream: bytes, expected: list[str]) -> None:
    assert _decode(*(stream[i : i + 1] for i in range(len(stream)))) == expected


def test_an_event_is_returned_as_soon_as_its_blank_line_arrives() -> None:
    decoder = Decoder()

    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b") == ["a"]
    assert decoder.feed(b"\n\n") == ["b"]


def test_an_event_ended_by_cr_is_not_held_back_for_a_following_lf() -> None:
    decoder = Decoder()

    assert decoder.feed(b"data: a\r\r") == ["a"]
    assert decoder.feed(b"\ndata: b\r\r") == ["b"]


def test_an_unfinished_event_is_never_returned() -> None:
    assert _decode(b"data: a\n\ndata: b\n") == ["a"]
