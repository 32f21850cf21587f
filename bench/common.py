"""What every benchmark shares: load generation, statistics, tables and results,
the throwaway database and the server under test.

A verdict is always a ratio against a baseline measured in the same run: on a
shared 2-core machine absolute times move with whatever else runs, ratios much
less. Each figure is the median of `ROUNDS` rounds, and the rounds of the
scenarios being compared are interleaved so that a noisy moment hits them alike.
"""

import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from sessions_client import pb_grpc
from sqlalchemy.engine import make_url

from tests.support.database import fresh_database
from tests.support.processes import ServerProcess, start_server

if TYPE_CHECKING:
    SessionStub = pb_grpc.SessionServiceAsyncStub
else:
    SessionStub = pb_grpc.SessionServiceStub

ROUNDS = 3
"""Every figure is the median of this many rounds."""

MACHINE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
"""Used when `SESSIONS_BENCH_DATABASE_URL` is unset and a server answers here."""

RESULTS = Path(__file__).parent / "results"

Metadata = tuple[tuple[str, str], ...]


def as_user(owner: str) -> Metadata:
    """Call metadata of `owner` acting as a user (the server runs with insecure auth)."""
    return (("x-owner", owner), ("x-actor", "user"))


# Statistics ----------------------------------------------------------------------


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `samples`, `fraction` in (0, 1]."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


@dataclass(frozen=True)
class Load:
    """What one closed-loop run measured: latencies of completed calls, in seconds,
    and the wall time they took together."""

    latencies: list[float]
    seconds: float

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)


@dataclass(frozen=True)
class Summary:
    """Medians over rounds of calls/s and of each round's p50 and p99 (seconds)."""

    rate: float
    p50: float
    p99: float

    @classmethod
    def of(cls, loads: Sequence[Load]) -> "Summary":
        return cls(
            rate=statistics.median(load.rate for load in loads),
            p50=statistics.median(load.p50 for load in loads),
            p99=statistics.median(load.p99 for load in loads),
        )


async def closed_loop(
    call: Callable[[int], Awaitable[object]],
    concurrency: int,
    seconds: float,
    warmup: float = 0.3,
) -> Load:
    """`concurrency` workers each awaiting `call(worker_index)` back to back for
    `seconds`, after `warmup` seconds that are not counted."""
    latencies: list[float] = []

    async def worker(index: int, until: float, record: bool) -> None:
        while (started := time.perf_counter()) < until:
            await call(index)
            if record:
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(
        *(worker(i, time.perf_counter() + warmup, False) for i in range(concurrency))
    )
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(worker(i, until, True) for i in range(concurrency)))
    return Load(latencies, time.perf_counter() - started)


async def interleaved_rounds(
    scenarios: Mapping[str, Callable[[], Awaitable[Load]]], rounds: int = ROUNDS
) -> dict[str, Summary]:
    """Runs every scenario once per round, round after round, and summarises each."""
    loads: dict[str, list[Load]] = {name: [] for name in scenarios}
    for _ in range(rounds):
        for name, measure in scenarios.items():
            loads[name].append(await measure())
    return {name: Summary.of(runs) for name, runs in loads.items()}


# Tables and results ----------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """A table cell holding a ratio, shown as `1.07×`."""

    value: float | None


Cell = str | int | float | Ratio | None


def _show(cell: Cell) -> str:
    if cell is None:
        return "–"
    if isinstance(cell, Ratio):
        return "–" if cell.value is None else f"{cell.value:.2f}×"
    if isinstance(cell, bool | str):
        return str(cell)
    if isinstance(cell, int):
        return f"{cell:,}"
    if abs(cell) >= 100:
        return f"{cell:,.0f}"
    return f"{cell:.1f}" if abs(cell) >= 10 else f"{cell:.2f}"


def _raw(cell: Cell) -> Any:
    return cell.value if isinstance(cell, Ratio) else cell


@dataclass(frozen=True)
class Target:
    """A goal of the benchmark: `value` must be at most (or at least) `limit`."""

    name: str
    value: float | None
    limit: float
    at_most: bool = True
    floor: tuple[str, float | None] | None = None
    """What the same figure of a baseline that does less came to in the same run
    (the bare relay's, say): how near the limit anything can get on this machine."""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def render(self) -> str:
        sign = "≤" if self.at_most else "≥"
        verdict = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        shown = "–" if self.value is None else f"{self.value:.2f}"
        line = f"target {self.name} {sign} {self.limit:g}: {shown} — {verdict}"
        if self.floor is not None:
            baseline, value = self.floor
            line += f" ({baseline}, same run: {'–' if value is None else f'{value:.2f}'})"
        return line


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def add(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))

    def render(self) -> str:
        shown = [self.columns, *([_show(c) for c in row] for row in self.rows)]
        widths = [max(len(row[i]) for row in shown) for i in range(len(self.columns))]

        def line(cells: list[str]) -> str:
            first, *rest = cells
            return "  ".join(
                [
                    first.ljust(widths[0]),
                    *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)),
                ]
            ).rstrip()

        rule = "-" * len(line(self.columns))
        text = [self.title, rule, line(self.columns), rule, *(line(row) for row in shown[1:])]
        text += [rule, *(target.render() for target in self.targets), *self.notes]
        return "\n".join(text)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": self.columns,
            "rows": [[_raw(c) for c in row] for row in self.rows],
            "notes": self.notes,
            "targets": [
                {
                    "name": t.name,
                    "value": t.value,
                    "limit": t.limit,
                    "at_most": t.at_most,
                    "met": t.met,
                    "floor": None if t.floor is None else {"of": t.floor[0], "value": t.floor[1]},
                }
                for t in self.targets
            ],
        }


class Report:
    """The tables of one `python -m bench` run, printed as they come."""

    def __init__(self) -> None:
        self.started = datetime.now(UTC)
        self.tables: dict[str, list[Table]] = {}

    def add(self, bench: str, table: Table) -> None:
        self.tables.setdefault(bench, []).append(table)
        print(f"\n{table.render()}\n", flush=True)

    def write(self, path: Path = RESULTS / "latest.json") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "started": self.started.isoformat(),
            "seconds": round((datetime.now(UTC) - self.started).total_seconds(), 1),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "rounds": ROUNDS,
            "benches": {
                bench: [table.as_json() for table in tables]
                for bench, tables in self.tables.items()
            },
        }
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return path


def ms(seconds: float) -> float:
    return seconds * 1000.0


# The database ------------------------------------------------------------------------


def asyncpg_url(url: str) -> str:
    """A SQLAlchemy URL as asyncpg itself takes it (no driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _answers(url: str) -> bool:
    async def probe() -> None:
        connection = await asyncpg.connect(asyncpg_url(url), timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


@contextmanager
def bench_database() -> Iterator[str]:
    """A throwaway migrated database, dropped afterwards: on the server at
    `SESSIONS_BENCH_DATABASE_URL`, else on the machine's PostgreSQL when it
    answers, else in an embedded PostgreSQL."""
    base = os.environ.get("SESSIONS_BENCH_DATABASE_URL")
    if base is None and _answers(MACHINE_DATABASE):
        base = MACHINE_DATABASE
    with fresh_database(base) as url:
        yield url


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection, for seeding rows and reading plans."""
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        yield connection
    finally:
        await connection.close()


async def seed_messages(
    connection: asyncpg.Connection, owner: str, session_id: uuid.UUID, count: int
) -> None:
    """Gives a session `count` alternating user/assistant messages of ~200 chars,
    written straight into the tables in one statement."""
    await connection.execute(
        """
        INSERT INTO messages (owner, session_id, seq, role, content, status, create_time)
        SELECT $1, $2, n, 2 + (n + 1) % 2, repeat('lorem ipsum ', 16) || n, 1,
               now() - (($3::bigint - n) * interval '1 second')
        FROM generate_series(1, $3::bigint) AS n
        """,
        owner,
        session_id,
        count,
    )
    await connection.execute(
        """UPDATE sessions SET message_count = $3::bigint, next_seq = $3::bigint + 1
           WHERE owner = $1 AND id = $2""",
        owner,
        session_id,
        count,
    )


# The server under test ----------------------------------------------------------------


@asynccontextmanager
async def server_process(
    database_url: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[ServerProcess]:
    """`sessions-server serve` (on uvloop) in its own process, stopped afterwards.

    Its own process: the load generator must not share the server's event loop.
    """
    with tempfile.TemporaryDirectory(prefix="sessions-bench-") as folder:
        server = await start_server(database_url, Path(folder), env)
        try:
            yield server
        finally:
            server.stop()


@asynccontextmanager
async def child_process(
    command: Sequence[str],
    ready: Callable[[], Awaitable[bool]],
    env: Mapping[str, str] | None = None,
    seconds: float = 60.0,
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`command` running (its output in a temporary log) once `ready()` says so;
    terminated when the block ends. A process that exits or is not ready within
    `seconds` fails with its log."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        try:
            deadline = time.monotonic() + seconds
            while not await ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-4000:]
                    raise RuntimeError(f"{command[0]} … did not start:\n{output}")
                await asyncio.sleep(0.2)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
