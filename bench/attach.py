"""Attach: a reply followed from the other replica, and what each flush of a
reply costs the database.

Following. Two server processes, A and B, run on one database with the same
`SESSIONS_REPLY_FLUSH_MS`, for 50 and 200 ms (four processes in all). A Send on A
streams a steady reply (200 tokens, 5 ms apart, from the fake endpoint) and, as
soon as its `started` arrives, an Attach follows the same reply: on B, which reads
it from the store, woken by NOTIFY at each flush; or on A itself, which follows it
in memory (the baseline). Per stream: the time from the Attach call to its first
delta; the delta lag, for each delta the attacher receives, since the Send's
caller received the delta with the same `end_offset` (or the first whose
`end_offset` passes it); and the text lag, for each delta the Send's caller
receives, until the attacher has text up to its `end_offset` (how stale the
attacher's text is). Lags are shown against the flush interval, B's first delta
against A's. `STREAMS` streams per figure and round, `AT_ONCE` at a time, the
scenarios' rounds interleaved; medians of `ROUNDS` rounds.

Flush cost. Straight against the database (asyncpg, no server): a session leased
with `open_send` as a Send leases it, then one reply appended by `append_reply`,
a call per piece of `PIECE_CHARS` characters (a 200 ms flush of a fast model),
`PIECES` calls. The median call of the first `WINDOW` is compared with the median
of calls 10,000 to 10,199 of the same reply: a flush should cost the same however
long the reply has grown. A new session per round.
"""

import asyncio
import statistics
import tempfile
import time
import uuid
from bisect import bisect_left
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
import grpc
import uvloop
from sessions_client import pb
from sessions_server.store.leases import Hold

from bench.common import (
    ROUNDS,
    Ratio,
    Report,
    SessionStub,
    Table,
    Target,
    as_user,
    bench_database,
    connect,
    ms,
    percentile,
    ratio,
    server_process,
)
from bench.send_stream import MODEL, TOKENS, fake_upstream
from tests.support.fake_upstream import Script

NAME = "attach"
FLUSHES_MS = (50, 200)
DELAY = 0.005
"""Seconds between two tokens of the reply being followed."""
STREAMS = 12
"""Streams per figure and round."""
AT_ONCE = 4
"""Streams (each a Send and an Attach) at a time."""
WARM_UP = 2
"""Streams per pair of servers before the measured rounds."""

PIECES = 10_200
PIECE_CHARS = 40
WINDOW = 200
LATE = 10_000
"""The late window: calls LATE .. LATE + WINDOW - 1 of the same reply."""

OTHER, SAME = "B", "A"
"""Where the Attach runs: the other replica (from the store), the generating one."""


# Following a reply --------------------------------------------------------------------

Arrivals = list[tuple[float, int]]
"""(perf_counter when received, end_offset) of a stream's deltas, in order."""


@dataclass(frozen=True)
class Trace:
    """One stream: seconds from the Attach call to its first delta, and the lags
    (seconds) of its deltas and of the Send's."""

    first_delta: float
    delta_lags: list[float]
    text_lags: list[float]


def _arrival(deltas: Arrivals, offset: int) -> float:
    """When the first delta reaching `offset` arrived."""
    index = bisect_left([end for _, end in deltas], offset)
    return deltas[index][0]


async def follow(
    sender: SessionStub, attacher: SessionStub, owner: str, session_id: str, script: Script
) -> Trace:
    """A Send on `sender` and, from its `started`, an Attach on `attacher` to the
    same reply; both must give the whole reply."""
    metadata = as_user(owner)
    sent: Arrivals = []
    attached: Arrivals = []
    texts: dict[str, list[str]] = {"send": [], "attach": []}

    async def attach(reply_seq: int) -> float:
        called = time.perf_counter()
        call = attacher.Attach(
            pb.AttachRequest(session_id=session_id, reply_seq=reply_seq), metadata=metadata
        )
        async for response in call:
            if response.WhichOneof("event") == "delta":
                attached.append((time.perf_counter(), response.delta.end_offset))
                texts["attach"].append(response.delta.text)
        return called

    attaching: asyncio.Task[float] | None = None
    call = sender.Send(
        pb.SendRequest(session_id=session_id, content=script.say()), metadata=metadata
    )
    async for response in call:
        event = response.WhichOneof("event")
        if event == "started":
            attaching = asyncio.create_task(attach(response.started.reply_seq))
        elif event == "delta":
            sent.append((time.perf_counter(), response.delta.end_offset))
            texts["send"].append(response.delta.text)
    assert attaching is not None, "the Send gave no started"
    called = await attaching
    for who, pieces in texts.items():
        if "".join(pieces) != script.reply:
            raise AssertionError(f"the {who} stream did not give the whole reply")
    return Trace(
        first_delta=attached[0][0] - called,
        delta_lags=[at - _arrival(sent, end) for at, end in attached],
        text_lags=[_arrival(attached, end) - at for at, end in sent],
    )


@dataclass(frozen=True)
class Figures:
    """Of one round (or the medians of rounds), in milliseconds."""

    first_p50: float
    first_p99: float
    delta_lag_p50: float
    delta_lag_p99: float
    text_lag_p50: float
    text_lag_p99: float

    @classmethod
    def of(cls, traces: list[Trace]) -> "Figures":
        firsts = [ms(t.first_delta) for t in traces]
        deltas = [ms(lag) for t in traces for lag in t.delta_lags]
        texts = [ms(lag) for t in traces for lag in t.text_lags]
        return cls(
            percentile(firsts, 0.5),
            percentile(firsts, 0.99),
            percentile(deltas, 0.5),
            percentile(deltas, 0.99),
            percentile(texts, 0.5),
            percentile(texts, 0.99),
        )

    @classmethod
    def median(cls, rounds: list["Figures"]) -> "Figures":
        return cls(
            *(
                statistics.median(getattr(f, name) for f in rounds)
                for name in cls.__dataclass_fields__
            )
        )


@dataclass(frozen=True)
class Pair:
    """Two replicas on one database, with one flush interval."""

    flush_ms: int
    a: SessionStub
    b: SessionStub


Scenario = tuple[int, str]
"""(flush ms, where the Attach runs)."""


async def _sessions(stub: SessionStub, count: int) -> list[tuple[str, str]]:
    """`count` new sessions, each of an owner of its own (the per-owner cap of
    concurrent Sends never applies)."""
    sessions = []
    for _ in range(count):
        owner = f"attach-{uuid.uuid4().hex[:12]}"
        created = await stub.Create(
            pb.CreateRequest(name="attach", model=MODEL), metadata=as_user(owner)
        )
        sessions.append((owner, created.session.id))
    return sessions


async def _streams(pair: Pair, where: str, count: int) -> list[Trace]:
    """`count` streams, `AT_ONCE` at a time, each on a new session."""
    sessions = iter(await _sessions(pair.a, count))
    attacher = pair.b if where == OTHER else pair.a
    script = Script(tokens=TOKENS, delay=DELAY)
    traces: list[Trace] = []

    async def worker() -> None:
        for owner, session_id in sessions:
            traces.append(await follow(pair.a, attacher, owner, session_id, script))

    await asyncio.gather(*(worker() for _ in range(AT_ONCE)))
    return traces


@asynccontextmanager
async def _pairs(url: str, upstream: str) -> AsyncIterator[list[Pair]]:
    """A pair of server processes per flush interval, all on `url`."""
    with tempfile.TemporaryDirectory() as folder:
        registry = Path(folder) / "endpoints.toml"
        registry.write_text(f'[endpoints.bench]\nurl = "{upstream}"\nmodels = ["{MODEL}"]\n')
        async with AsyncExitStack() as stack:
            pairs = []
            for flush_ms in FLUSHES_MS:
                env = {
                    "SESSIONS_ENDPOINTS_FILE": str(registry),
                    "SESSIONS_REPLY_FLUSH_MS": str(flush_ms),
                }
                stubs = []
                for _ in (SAME, OTHER):
                    server = await stack.enter_async_context(server_process(url, env))
                    channel = await stack.enter_async_context(
                        grpc.aio.insecure_channel(server.address)
                    )
                    stubs.append(SessionStub(channel))
                pairs.append(Pair(flush_ms, *stubs))
            yield pairs


async def measure_following(url: str) -> dict[Scenario, Figures]:
    with fake_upstream() as upstream:
        async with _pairs(url, upstream) as pairs:
            for pair in pairs:
                for where in (SAME, OTHER):
                    await _streams(pair, where, WARM_UP)
            rounds: dict[Scenario, list[Figures]] = {}
            for _ in range(ROUNDS):
                for pair in pairs:
                    for where in (OTHER, SAME):
                        traces = await _streams(pair, where, STREAMS)
                        rounds.setdefault((pair.flush_ms, where), []).append(Figures.of(traces))
            return {scenario: Figures.median(figures) for scenario, figures in rounds.items()}


def following_table(results: dict[Scenario, Figures]) -> Table:
    table = Table(
        f"Attach: a {TOKENS}-token reply at {DELAY * 1000:.0f} ms/token followed on the "
        f"other replica (B, from the store) and on the generating one (A, in memory), "
        f"medians of {ROUNDS} rounds",
        [
            "flush ms",
            "figure",
            "B p50 ms",
            "B p99 ms",
            "A p50 ms",
            "A p99 ms",
            "B p50 ÷ flush",
            "B p99 ÷ flush",
            "B p50 ÷ A p50",
            "B p99 ÷ A p99",
        ],
    )
    figures = {
        "first delta": "first",
        "delta lag": "delta_lag",
        "text lag": "text_lag",
    }
    for flush_ms in FLUSHES_MS:
        b, a = results[(flush_ms, OTHER)], results[(flush_ms, SAME)]
        for label, what in figures.items():
            b50, b99 = getattr(b, f"{what}_p50"), getattr(b, f"{what}_p99")
            a50, a99 = getattr(a, f"{what}_p50"), getattr(a, f"{what}_p99")
            first = what == "first"
            table.add(
                flush_ms,
                label,
                b50,
                b99,
                a50,
                a99,
                Ratio(b50 / flush_ms),
                Ratio(b99 / flush_ms),
                Ratio(ratio(b50, a50) if first else None),
                Ratio(ratio(b99, a99) if first else None),
            )
        table.targets += [
            Target(
                f"delta lag p99 on B, flush {flush_ms} ms: ÷ flush interval",
                b.delta_lag_p99 / flush_ms,
                1.0,
                floor=("A in memory", a.delta_lag_p99 / flush_ms),
            ),
            Target(
                f"first delta p50, flush {flush_ms} ms: (B − A) ÷ flush interval",
                (b.first_p50 - a.first_p50) / flush_ms,
                1.0,
            ),
        ]
    table.notes += [
        "first delta: from the Attach call, made as the Send's `started` arrived, to the "
        "Attach's first delta (the endpoint's first token is part of it, on A as on B)",
        "delta lag: for each delta the attacher receives, the time since the Send's caller "
        "received the delta with the same end_offset (or the first past it)",
        "text lag: for each delta the Send's caller receives, the time until the attacher "
        "has text up to its end_offset (how stale the attacher's text is: up to a flush "
        "interval plus a write and a read)",
        f"{STREAMS} streams per figure and round, {AT_ONCE} at a time, each a Send on A and "
        "an Attach; the targets: the store trails the stream by up to one flush (DESIGN §8)",
    ]
    return table


# The cost of a flush ------------------------------------------------------------------

_APPEND = "SELECT append_reply($1, $2, $3, $4, $5, $6)"
_OPEN = """SELECT outcome, reply_seq
           FROM open_send($1, $2, $3, $4, $5, $6, '', 'Send', '', $7, $8, $9)"""


async def _leased_reply(connection: asyncpg.Connection) -> tuple[str, uuid.UUID, uuid.UUID, int]:
    """A new session leased for a Send, as `open_send` leases it, with its reply
    stored IN_PROGRESS: (owner, session, lease token, reply seq)."""
    owner, session_id, token = f"flush-{uuid.uuid4().hex[:12]}", uuid.uuid4(), uuid.uuid4()
    await connection.execute(
        """INSERT INTO sessions (owner, id, name, model, endpoint,
                                 create_time, update_time, last_active_time)
           VALUES ($1, $2, 'flush cost', $3, 'bench', now(), now(), now())""",
        owner,
        session_id,
        MODEL,
    )
    outcome, reply_seq = await connection.fetchrow(
        _OPEN,
        owner,
        session_id,
        token,
        timedelta(hours=1),
        8,
        "hello",
        200,
        1024 * 1024,
        ["bench"],
    )
    if outcome != "opened":
        raise RuntimeError(f"open_send: {outcome}")
    return owner, session_id, token, reply_seq


def _piece(index: int) -> str:
    return f"{index:06d} lorem ipsum dolor sit amet, consectetur"[:PIECE_CHARS].ljust(PIECE_CHARS)


async def _append_times(connection: asyncpg.Connection) -> list[float]:
    """Seconds of each `append_reply` call of one reply of `PIECES` pieces."""
    owner, session_id, token, seq = await _leased_reply(connection)
    times: list[float] = []
    start = 0
    for index in range(PIECES):
        piece = _piece(index)
        began = time.perf_counter()
        outcome = await connection.fetchval(_APPEND, owner, session_id, token, seq, start, piece)
        times.append(time.perf_counter() - began)
        if outcome != Hold.HELD:
            raise RuntimeError(f"append_reply: {outcome} at piece {index}")
        start += len(piece)
    return times


@dataclass(frozen=True)
class Window:
    p50_ms: float
    p99_ms: float


async def measure_flush_cost(url: str) -> list[tuple[Window, Window]]:
    """Per round: the first window's figures and the late window's."""
    windows: list[tuple[Window, Window]] = []
    async with connect(url) as connection:
        for _ in range(ROUNDS):
            times = await _append_times(connection)
            pair = []
            for begin in (0, LATE):
                calls = [ms(t) for t in times[begin : begin + WINDOW]]
                pair.append(Window(percentile(calls, 0.5), percentile(calls, 0.99)))
            windows.append((pair[0], pair[1]))
    return windows


def flush_cost_table(windows: list[tuple[Window, Window]]) -> Table:
    table = Table(
        f"Reply flush cost: append_reply of {PIECE_CHARS}-character pieces, one reply of "
        f"{PIECES:,} pieces, straight on the database, medians of {ROUNDS} rounds",
        ["calls", "p50 ms", "p99 ms", "p50 ÷ first", "p99 ÷ first"],
    )
    ratios50 = [late.p50_ms / first.p50_ms for first, late in windows]
    ratios99 = [late.p99_ms / first.p99_ms for first, late in windows]
    for index, begin in enumerate((0, LATE)):
        table.add(
            f"{begin:,} .. {begin + WINDOW - 1:,}",
            statistics.median(w[index].p50_ms for w in windows),
            statistics.median(w[index].p99_ms for w in windows),
            Ratio(statistics.median(ratios50) if index else 1.0),
            Ratio(statistics.median(ratios99) if index else 1.0),
        )
    table.targets.append(
        Target(
            f"append_reply p50, calls {LATE:,}.. ÷ first {WINDOW} of the same reply",
            statistics.median(ratios50),
            1.2,
        )
    )
    table.notes += [
        "each call its own transaction on one asyncpg connection, as the server's flush "
        "runs it; the session leased by open_send, no attacher (so no NOTIFY)",
        "ratios: the median over rounds of each round's late ÷ first",
    ]
    return table


def run(report: Report) -> None:
    with bench_database() as url:
        report.add(NAME, following_table(uvloop.run(measure_following(url))))
        report.add(NAME, flush_cost_table(uvloop.run(measure_flush_cost(url))))


if __name__ == "__main__":
    run(Report())
