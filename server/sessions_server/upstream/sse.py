"""Server-sent events, decoded from the byte chunks of a response as they arrive.

    data: {"choices": ...}        a field line: `name: value` (one space after
    data: ...                     the colon is dropped); several `data` lines
                                  of one event join with "\\n"
    : ping                        a comment, ignored (as are fields other than `data`)
                                  a blank line ends the event

Lines end in "\\n", "\\r\\n" or "\\r". Each chunk is decoded as a whole: its complete
events are split out at once and the usual event, one `data:` line, costs a
slice; the partial event at its end waits for the next chunk.
"""

_PREFIX = "data: "


class Decoder:
    """`feed` it the chunks of one stream in order; it returns the `data` of each
    event they complete (events without a `data` field are not returned)."""

    def __init__(self) -> None:
        self._partial = b""
        self._after_cr = False

    def feed(self, chunk: bytes) -> list[str]:
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the second half of a "\r\n" split between chunks
        if b"\r" in chunk:
            self._after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            self._after_cr = False
        buffer = self._partial + chunk
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._partial = buffer
            return []
        self._partial = buffer[end + 2 :]
        events = buffer[:end].decode(errors="replace").split("\n\n")
        return [data for event in events if (data := _data(event)) is not None]


def _data(event: str) -> str | None:
    """The `data` of one event's lines; None when it has no `data` field."""
    if event.startswith(_PREFIX) and "\n" not in event:
        return event[len(_PREFIX) :]
    lines = [
        value[1:] if value.startswith(" ") else value
        for name, _, value in (line.partition(":") for line in event.split("\n"))
        if name == "data"
    ]
    return "\n".join(lines) if lines else None
