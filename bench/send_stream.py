"""What Send's streaming costs: the fake model endpoint straight, against the same
endpoint through the service, measured in one run.

    make bench            (or: python -m bench.send_stream [--profile])

200-token replies at concurrency 1, 16 and 64, with 0 and 5 ms between tokens: time
to first token (p50, p99) and tokens per second over all streams. The service runs
as its own process (uvloop) on a real PostgreSQL: `SESSIONS_BENCH_DATABASE_URL`, else
the machine's, else an embedded one, in a throwaway database. It is measured with
each upstream transport (aiohttp underneath httpx, and httpx's own) to show why the
default is what it is. Results go to `bench/results/latest.json`; `--profile`
also samples the service with py-spy during the heaviest run.
"""

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import asyncpg
import grpc
import uvloop
from sessions_client import pb, pb_grpc

from tests.support.database import fresh_database
from tests.support.fake_upstream import Script
from tests.support.processes import ServerProcess, start_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MACHINE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TOKENS = 200
CONCURRENCY = (1, 16, 64)
DELAYS = (0.0, 0.005)
TRANSPORTS = ("aiohttp", "httpx")
MODEL = "bench-model"

if TYPE_CHECKING:
    Stub = pb_grpc.SessionServiceAsyncStub
else:
    Stub = pb_grpc.SessionServiceStub


@dataclass(frozen=True)
class Sample:
    first_token: float
    tokens: int


@dataclass(frozen=True)
class Figures:
    first_token_p50_ms: float
    first_token_p99_ms: float
    tokens_per_second: float


Stream = Callable[[int], Awaitable[Sample]]


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


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
        round(percentile(firsts, 0.5), 2),
        round(percentile(firsts, 0.99), 2),
        round(sum(s.tokens for s in samples) / wall),
    )


def direct(http: aiohttp.ClientSession, url: str, script: Script) -> Stream:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": script.say()}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def stream(_: int) -> Sample:
        started = time.perf_counter()
        first, tokens = 0.0, 0
        async with http.post(f"{url}/chat/completions", json=body) as response:
            async for line in response.content:
                if not line.startswith(b"data: {"):
                    continue
                for choice in json.loads(line[6:])["choices"]:
                    if choice["delta"].get("content"):
                        tokens += 1
                        first = first or time.perf_counter() - started
        return Sample(first, tokens)

    return stream


async def through(stub: Stub, script: Script, requests: int) -> Stream:
    """Streams through the service, one new session (and owner) per request."""
    content = script.say()
    sessions: list[tuple[tuple[tuple[str, str], ...], str]] = []
    for _ in range(requests):
        metadata = (("x-owner", f"bench-{uuid.uuid4().hex[:12]}"),)
        created = await stub.Create(pb.CreateRequest(name="bench", model=MODEL), metadata=metadata)
        sessions.append((metadata, created.session.id))

    async def stream(index: int) -> Sample:
        metadata, session_id = sessions[index]
        started = time.perf_counter()
        first, text = 0.0, []
        call = stub.Send(pb.SendRequest(session_id=session_id, content=content), metadata=metadata)
        async for response in call:
            if response.WhichOneof("event") == "delta":
                text.append(response.delta.text)
                first = first or time.perf_counter() - started
        # A delta may carry several tokens (those that arrived together).
        return Sample(first, TOKENS if "".join(text) == script.reply else 0)

    return stream


@contextmanager
def database() -> Iterator[str]:
    base = os.environ.get("SESSIONS_BENCH_DATABASE_URL")
    if base is None and asyncio.run(_reachable(MACHINE_DATABASE)):
        base = MACHINE_DATABASE
    with fresh_database(base) as url:  # without a base: an embedded server
        yield url


async def _reachable(url: str) -> bool:
    try:
        connection = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


@contextmanager
def fake_upstream() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_upstream"], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().decode().strip(), process
    finally:
        process.terminate()
        process.wait(10)


async def services(url: str, upstream: str, folder: Path) -> dict[str, ServerProcess]:
    registry = folder / "endpoints.toml"
    registry.write_text(f'[endpoints.bench]\nurl = "{upstream}"\nmodels = ["{MODEL}"]\n')
    started = {}
    for transport in TRANSPORTS:
        env = {"SESSIONS_ENDPOINTS_FILE": str(registry), "SESSIONS_UPSTREAM_TRANSPORT": transport}
        started[transport] = await start_server(url, folder, env)
    return started


@contextmanager
def profiled(pid: int, enabled: bool) -> Iterator[None]:
    """py-spy samples the process meanwhile; top functions land in results/."""
    if not enabled:
        yield
        return
    output = RESULTS / "profile.txt"
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(2)
        spy.wait(30)


async def run(url: str, upstream: str, folder: Path, profile: bool) -> list[dict[str, object]]:
    servers = await services(url, upstream, folder)
    rows: list[dict[str, object]] = []
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
            grpc.aio.insecure_channel(servers["aiohttp"].address) as a,
            grpc.aio.insecure_channel(servers["httpx"].address) as h,
        ):
            stubs = {
                "aiohttp": pb_grpc.SessionServiceStub(a),
                "httpx": pb_grpc.SessionServiceStub(h),
            }
            for delay in DELAYS:
                for concurrency in CONCURRENCY:
                    script = Script(tokens=TOKENS, delay=delay)
                    requests = max(10, concurrency * 2)
                    row: dict[str, object] = {"delay_ms": delay * 1000, "concurrency": concurrency}
                    await measure(
                        direct(http, upstream, script), concurrency, concurrency
                    )  # warm-up
                    row["direct"] = asdict(
                        await measure(direct(http, upstream, script), concurrency, requests)
                    )
                    for transport, stub in stubs.items():
                        await measure(
                            await through(stub, script, concurrency), concurrency, concurrency
                        )
                        stream = await through(stub, script, requests)
                        heaviest = (
                            profile and transport == "aiohttp" and delay == 0 and concurrency == 64
                        )
                        with profiled(servers[transport].process.pid, heaviest):
                            row[transport] = asdict(await measure(stream, concurrency, requests))
                    rows.append(row)
                    print(f"  measured {delay * 1000:.0f} ms x {concurrency}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    return rows


def table(rows: list[dict[str, object]]) -> str:
    def cell(row: dict[str, object], who: str, what: str) -> float:
        figures = row[who]
        assert isinstance(figures, dict)
        return float(figures[what])

    lines = [
        "delay  conc | TTFT p50 ms: direct  service  ratio | TTFT p99 ms: direct  service  ratio"
        " | tokens/s: direct  service  ratio | httpx transport: p50  p99  tok/s",
    ]
    for row in rows:
        parts = [f"{row['delay_ms']:>3.0f}ms {row['concurrency']:>5} |"]
        for what in ("first_token_p50_ms", "first_token_p99_ms", "tokens_per_second"):
            d, s = cell(row, "direct", what), cell(row, "aiohttp", what)
            parts.append(f"{d:>10.1f} {s:>8.1f} {s / d:>6.2f}x |")
        parts.append(
            " ".join(
                f"{cell(row, 'httpx', w):>8.1f}"
                for w in ("first_token_p50_ms", "first_token_p99_ms", "tokens_per_second")
            )
        )
        lines.append(" ".join(parts))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.send_stream", description=__doc__)
    parser.add_argument("--profile", action="store_true", help="sample the service with py-spy")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (
        database() as url,
        fake_upstream() as (upstream, _),
        tempfile.TemporaryDirectory(prefix="sessions-bench-") as folder,
    ):
        rows = uvloop.run(run(url, upstream, Path(folder), args.profile))
    report = table(rows)
    print(report)
    document = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "tokens": TOKENS,
        "service_transport": "aiohttp",
        "rows": rows,
        "table": report.splitlines(),
    }
    (RESULTS / "latest.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
