"""What Send's streaming costs: the fake model endpoint straight, against the same
endpoint through the service, a bare grpc.aio relay and LiteLLM proxy, measured
in one run; and what storing the reply as it streams costs the service.

    make bench            (or: python -m bench.send_stream [--profile])

200-token replies at concurrency 1, 16 and 64, with 0 and 5 ms between tokens: time
to first token (p50, p99) and tokens per second over all streams, medians of
`ROUNDS` interleaved rounds. The service runs as its own process (uvloop) on a
real PostgreSQL in a throwaway database, twice over: with the default
`SESSIONS_REPLY_FLUSH_MS` (the reply appended to the store as it streams) and
with 0 (stored once, at its end), side by side in the same rounds, so that the
cost of the flushes shows as service ÷ flush-0 service. The relay
(`bench/relay.py`) is the floor for relaying over Python gRPC; LiteLLM proxy
(`bench/litellm_proxy.py`) is the generic gateway, streamed through with the
OpenAI protocol exactly as the endpoint is straight. `--profile` also samples the
service (the default one) with py-spy during the runs at the highest concurrency
(every round, both delays) and prints its top costs.
"""

import argparse
import asyncio
import collections
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import uvloop
from sessions_client import pb
from sessions_server.config import Settings

from bench.common import (
    RESULTS,
    ROUNDS,
    Cell,
    Ratio,
    Report,
    SessionStub,
    Table,
    Target,
    as_user,
    bench_database,
    percentile,
    ratio,
    server_process,
)
from bench.litellm_proxy import Unavailable, litellm_proxy
from bench.relay import relay_process
from tests.support.fake_upstream import Script
from tests.support.processes import ServerProcess

NAME = "send_stream"
ROOT = Path(__file__).resolve().parent.parent
TOKENS = 200
CONCURRENCY = (1, 16, 64)
DELAYS = (0.0, 0.005)
MODEL = "bench-model"
PROFILE = RESULTS / "profile.txt"
LITELLM_ROUNDS = 1
"""LiteLLM streams ~10x slower than the rest: one round keeps the bench short, and
its ratios are far from any target's edge."""
MIN_REQUESTS = 12
"""Streams per figure at least: one stream at a time still gives a median of 12."""
FLUSH_0_LIMIT = 0.05
"""The service with its flushes is within this fraction of the flush-0 service."""

DIRECT, SERVICE, FLUSH_0, RELAY, LITELLM = (
    "direct",
    "service",
    "flush-0 service",
    "bare relay",
    "LiteLLM",
)


@dataclass(frozen=True)
class Sample:
    first_token: float
    tokens: int


@dataclass(frozen=True)
class Figures:
    first_token_p50_ms: float
    first_token_p99_ms: float
    tokens_per_second: float

    @classmethod
    def median(cls, rounds: list["Figures"]) -> "Figures":
        return cls(
            statistics.median(f.first_token_p50_ms for f in rounds),
            statistics.median(f.first_token_p99_ms for f in rounds),
            statistics.median(f.tokens_per_second for f in rounds),
        )


Stream = Callable[[int], Awaitable[Sample]]
Column = Callable[[Script, int], Awaitable[Stream]]
"""Prepares `requests` streams of a script (sessions, say) before they are timed."""


async def measure(stream: Stream, concurrency: int, requests: int) -> Figures:
    """`requests` streams, `concurrency` at a time."""
    samples: list[Sample] = []
    next_index = iter(range(requests))

    async def worker() -> None:
        for index in next_index:
            samples.append(await stream(index))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    assert all(s.tokens == TOKENS for s in samples), "a stream lost tokens"
    firsts = [s.first_token * 1000 for s in samples]
    return Figures(
        percentile(firsts, 0.5),
        percentile(firsts, 0.99),
        sum(s.tokens for s in samples) / wall,
    )


def direct(http: aiohttp.ClientSession, url: str, model: str = MODEL, api_key: str = "") -> Column:
    """Straight to an OpenAI-compatible endpoint: the fake itself, or a gateway."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def prepare(script: Script, requests: int) -> Stream:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": script.say()}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }

        async def stream(_: int) -> Sample:
            started = time.perf_counter()
            first, text = 0.0, []
            async with http.post(f"{url}/chat/completions", json=body, headers=headers) as reply:
                async for line in reply.content:
                    if not line.startswith(b"data: {"):
                        continue
                    for choice in json.loads(line[6:])["choices"]:
                        if content := choice["delta"].get("content"):
                            text.append(content)
                            first = first or time.perf_counter() - started
            return Sample(first, TOKENS if "".join(text) == script.reply else 0)

        return stream

    return prepare


def _grpc_stream(stub: SessionStub, script: Script, sessions: list[tuple[str, str]]) -> Stream:
    content = script.say()

    async def stream(index: int) -> Sample:
        owner, session_id = sessions[index]
        started = time.perf_counter()
        first, text = 0.0, []
        call = stub.Send(
            pb.SendRequest(session_id=session_id, content=content), metadata=as_user(owner)
        )
        async for response in call:
            if response.WhichOneof("event") == "delta":
                text.append(response.delta.text)
                first = first or time.perf_counter() - started
        # A delta may carry several tokens (those that arrived together).
        return Sample(first, TOKENS if "".join(text) == script.reply else 0)

    return stream


def through(stub: SessionStub) -> Column:
    """Streams through the service, one new session (and owner) per request."""

    async def prepare(script: Script, requests: int) -> Stream:
        sessions = []
        for _ in range(requests):
            owner = f"bench-{uuid.uuid4().hex[:12]}"
            created = await stub.Create(
                pb.CreateRequest(name="bench", model=MODEL), metadata=as_user(owner)
            )
            sessions.append((owner, created.session.id))
        return _grpc_stream(stub, script, sessions)

    return prepare


def relayed(stub: SessionStub) -> Column:
    """Streams through the bare relay, which needs no session."""

    async def prepare(script: Script, requests: int) -> Stream:
        return _grpc_stream(stub, script, [("relay", "")] * requests)

    return prepare


@contextmanager
def fake_upstream() -> Iterator[str]:
    """The fake endpoint in its own process; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_upstream"], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().decode().strip()
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def profiled(pid: int, enabled: bool) -> Iterator[None]:
    """py-spy samples the process meanwhile; its samples are added to `PROFILE`."""
    if not enabled:
        yield
        return
    sampled = PROFILE.with_suffix(".part")
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(sampled),
            "--rate",
            "1000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(2)
        spy.wait(30)
        with PROFILE.open("a") as profile:
            profile.write(sampled.read_text())
        sampled.unlink()


_PROFILED = ("sessions_server", "sqlalchemy", "asyncpg", "httpx", "aiohttp")


def top_costs(path: Path, count: int = 20) -> list[str]:
    """The functions of a py-spy raw profile with the most samples inside them
    (inclusive): the service's own and its libraries' (database, HTTP), below the
    process's entry point."""
    inside: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        total += int(samples)
        for frame in set(stack.split(";")):
            entry = "cli.py" in frame or "__main__" in frame
            if not entry and any(part in frame for part in _PROFILED):
                inside[frame] += int(samples)
    return [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inside.most_common(count)]


Results = dict[tuple[float, int], dict[str, Figures | str]]


async def measure_all(
    upstream: str, server: ServerProcess, flush_0: ServerProcess, profile: bool
) -> Results:
    results: Results = {}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
        grpc.aio.insecure_channel(server.address) as service,
        grpc.aio.insecure_channel(flush_0.address) as unflushed,
        relay_process(upstream) as relay,
        grpc.aio.insecure_channel(relay.address) as r,
        litellm_proxy(upstream) as proxy,
    ):
        columns: dict[str, Column] = {
            DIRECT: direct(http, upstream),
            SERVICE: through(SessionStub(service)),
            FLUSH_0: through(SessionStub(unflushed)),
            RELAY: relayed(SessionStub(r)),
        }
        if not isinstance(proxy, Unavailable):
            columns[LITELLM] = direct(http, proxy.base_url, proxy.model, proxy.api_key)
        warm_up = Script(tokens=TOKENS)
        for prepare in columns.values():
            await measure(await prepare(warm_up, 4), 4, 4)
        for delay in DELAYS:
            for concurrency in CONCURRENCY:
                script = Script(tokens=TOKENS, delay=delay)
                # At 16 and 64, one wave: every stream runs at the full concurrency.
                requests = max(MIN_REQUESTS, concurrency)
                rounds: dict[str, list[Figures]] = {name: [] for name in columns}
                for round_ in range(ROUNDS):
                    for name in _order(columns, round_):
                        if name == LITELLM and round_ >= LITELLM_ROUNDS:
                            continue
                        stream = await columns[name](script, requests)
                        busiest = concurrency == max(CONCURRENCY)
                        sampled = profile and name == SERVICE and busiest
                        with profiled(server.process.pid, sampled):
                            rounds[name].append(await measure(stream, concurrency, requests))
                row: dict[str, Figures | str] = {
                    name: Figures.median(figures) for name, figures in rounds.items()
                }
                if isinstance(proxy, Unavailable):
                    row[LITELLM] = proxy.reason
                results[(delay, concurrency)] = row
                print(f"  measured {delay * 1000:.0f} ms x {concurrency}", flush=True)
    return results


def _order(columns: dict[str, Column], round_: int) -> list[str]:
    """The columns in the order of round `round_`: the two services swap places every
    other round, so that neither always runs right after the other."""
    names = list(columns)
    if round_ % 2:
        first, second = names.index(SERVICE), names.index(FLUSH_0)
        names[first], names[second] = names[second], names[first]
    return names


def _figure(row: dict[str, Figures | str], column: str, what: str) -> float | None:
    figures = row.get(column)
    return getattr(figures, what) if isinstance(figures, Figures) else None


def table(results: Results, flush_ms: int) -> Table:
    order = [DIRECT, SERVICE, FLUSH_0, RELAY, LITELLM]
    table = Table(
        f"Streaming Send: {TOKENS}-token replies, medians of {ROUNDS} rounds",
        [
            "ms/token",
            "streams",
            "figure",
            *order,
            "service ÷ direct",
            "service ÷ relay",
            "service ÷ LiteLLM",
            "service ÷ flush-0",
        ],
    )
    figures = {
        "first token p50 ms": "first_token_p50_ms",
        "first token p99 ms": "first_token_p99_ms",
        "tokens/s": "tokens_per_second",
    }
    for (delay, concurrency), row in results.items():
        for label, what in figures.items():
            cells: list[Cell] = [_figure(row, column, what) for column in order]
            service = _figure(row, SERVICE, what)
            table.add(
                delay * 1000,
                concurrency,
                label,
                *cells,
                Ratio(ratio(service, _figure(row, DIRECT, what))),
                Ratio(ratio(service, _figure(row, RELAY, what))),
                Ratio(ratio(service, _figure(row, LITELLM, what))),
                Ratio(ratio(service, _figure(row, FLUSH_0, what))),
            )
    slowest, busiest = max(DELAYS), max(CONCURRENCY)

    def of(delay: float, concurrency: int, column: str, what: str) -> float | None:
        return _figure(results[(delay, concurrency)], column, what)

    def against_direct(
        name: str, concurrency: int, what: str, limit: float, at_most: bool = True
    ) -> Target:
        """service ÷ direct at 5 ms/token, beside the bare relay's own ratio: the
        floor for relaying over Python gRPC, storing nothing."""
        direct = of(slowest, concurrency, DIRECT, what)
        relay = ratio(of(slowest, concurrency, RELAY, what), direct)
        service = ratio(of(slowest, concurrency, SERVICE, what), direct)
        return Target(name, service, limit, at_most, floor=("bare relay ÷ direct", relay))

    p50, rate = "first_token_p50_ms", "tokens_per_second"
    table.targets += [
        against_direct("first token p50, 5 ms/token, 1 stream: service ÷ direct", 1, p50, 1.25),
        against_direct(
            f"tokens/s, 5 ms/token, {busiest} streams: service ÷ direct",
            busiest,
            rate,
            0.9,
            at_most=False,
        ),
        Target(
            f"tokens/s, no delay, {busiest} streams: service ÷ bare relay",
            ratio(of(0.0, busiest, SERVICE, rate), of(0.0, busiest, RELAY, rate)),
            1.0,
            at_most=False,
        ),
        Target(
            f"tokens/s, no delay, {busiest} streams: service ÷ LiteLLM",
            ratio(of(0.0, busiest, SERVICE, rate), of(0.0, busiest, LITELLM, rate)),
            5.0,
            at_most=False,
        ),
    ]
    worst = [
        ratio(of(d, c, SERVICE, p50), of(d, c, LITELLM, p50)) for d in DELAYS for c in CONCURRENCY
    ]
    table.targets.append(
        Target(
            "first token p50 at every concurrency: worst service ÷ LiteLLM (must be < 1)",
            None if None in worst else max(w for w in worst if w is not None),
            1.0,
        )
    )
    for delay in DELAYS:
        shown = f"{delay * 1000:.0f} ms/token" if delay else "no delay"
        table.targets.append(
            Target(
                f"first token p50, {shown}, 1 stream: service ÷ flush-0 service",
                ratio(of(delay, 1, SERVICE, p50), of(delay, 1, FLUSH_0, p50)),
                1 + FLUSH_0_LIMIT,
            )
        )
        table.targets += [
            Target(
                f"tokens/s, {shown}, {concurrency} stream{'s' * (concurrency > 1)}: "
                "service ÷ flush-0 service",
                ratio(of(delay, concurrency, SERVICE, rate), of(delay, concurrency, FLUSH_0, rate)),
                1 - FLUSH_0_LIMIT,
                at_most=False,
            )
            for concurrency in CONCURRENCY
        ]
    for row in results.values():
        if isinstance(reason := row.get(LITELLM), str):
            table.notes.append(f"LiteLLM not measured: {reason}")
            break
    table.notes.append(
        f"LiteLLM: {LITELLM_ROUNDS} round (it streams ~10x slower than the rest); "
        f"requests per figure: max({MIN_REQUESTS}, streams), streams at a time"
    )
    table.notes.append(
        f"service: SESSIONS_REPLY_FLUSH_MS={flush_ms} (the reply appended as it streams); "
        "flush-0 service: SESSIONS_REPLY_FLUSH_MS=0 (stored at its end only), a second "
        "server process on the same database, measured next to it in every round (the two "
        "swap places every other round)"
    )
    table.notes.append(
        "tokens/s: over all streams together; the load generator, the service, the relay, "
        "LiteLLM and the fake endpoint share the machine's 2 cores, so figures are noisy"
    )
    return table


async def _measure(url: str, profile: bool) -> Results:
    with fake_upstream() as upstream, tempfile.TemporaryDirectory() as folder:
        registry = Path(folder) / "endpoints.toml"
        registry.write_text(f'[endpoints.bench]\nurl = "{upstream}"\nmodels = ["{MODEL}"]\n')
        env = {"SESSIONS_ENDPOINTS_FILE": str(registry)}
        async with (
            server_process(url, env) as server,
            server_process(url, {**env, "SESSIONS_REPLY_FLUSH_MS": "0"}) as flush_0,
        ):
            return await measure_all(upstream, server, flush_0, profile)


def run_bench(report: Report, profile: bool = False) -> None:
    if profile:
        PROFILE.parent.mkdir(parents=True, exist_ok=True)
        PROFILE.write_text("")
    with bench_database() as url:
        results = uvloop.run(_measure(url, profile))
    streaming = table(results, Settings().reply_flush_ms)
    if profile:
        streaming.notes.append(f"py-spy, service at {max(CONCURRENCY)} streams: top costs")
        streaming.notes += top_costs(PROFILE)
    report.add(NAME, streaming)


def run(report: Report) -> None:
    run_bench(report)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.send_stream", description=__doc__)
    parser.add_argument("--profile", action="store_true", help="sample the service with py-spy")
    args = parser.parse_args()
    report = Report()
    run_bench(report, args.profile)
    report.write()


if __name__ == "__main__":
    main()
