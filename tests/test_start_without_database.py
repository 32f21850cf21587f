"""A server that cannot reach its database at start says so in one line and exits
at once: within SESSIONS_DATABASE_CONNECT_TIMEOUT when the database accepts TCP but
never answers, and with exit code 3."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port, launch_server

UNREACHABLE = 3


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def _url(port: int) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"


async def test_a_database_that_never_answers_fails_the_start_within_the_timeout(
    tmp_path: Path,
) -> None:
    with silent_listener() as port:
        started = time.monotonic()
        server = launch_server(_url(port), tmp_path, {"SESSIONS_DATABASE_CONNECT_TIMEOUT": "1"})
        code = await server.wait_exit(10)
        took = time.monotonic() - started

    assert code == UNREACHABLE
    assert took < 5, took
    _assert_one_clear_line(server.log(), port)


async def test_a_database_that_is_down_fails_the_start_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    server = launch_server(_url(port), tmp_path)

    assert await server.wait_exit(10) == UNREACHABLE
    _assert_one_clear_line(server.log(), port)


def _assert_one_clear_line(log: str, port: int) -> None:
    assert "Traceback" not in log, log
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    assert f"127.0.0.1:{port}" in errors[0]
    assert "cannot reach the database" in errors[0]


def test_migrate_against_a_database_that_is_down_fails_in_one_line() -> None:
    port = free_port()
    environment = {**os.environ, "SESSIONS_DATABASE_URL": _url(port)}
    done = subprocess.run(
        [sys.executable, "-m", "sessions_server", "migrate"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == UNREACHABLE
    _assert_one_clear_line(done.stdout + done.stderr, port)
