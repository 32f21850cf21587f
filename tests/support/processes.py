"""Server processes for tests that need more than the in-process server: replicas
on one database, SIGTERM and SIGKILL."""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    address: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    async def wait_exit(self, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not exit within {seconds} s:\n{self.log()}")
            await asyncio.sleep(0.05)
        return code


async def wait_serving(address: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                response = await health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"no server serving on {address}")
            await asyncio.sleep(0.1)


async def _bound_port(server: ServerProcess, seconds: float = 30.0) -> int:
    """The port the server says it bound. Asking the server (port 0) rather than
    picking a free port first means no other process can take it in between."""
    deadline = time.monotonic() + seconds
    while (found := _SERVING.search(server.log())) is None:
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise TimeoutError(f"server did not start:\n{server.log()}")
        await asyncio.sleep(0.05)
    return int(found.group(1))


_SERVING = re.compile(r"serving \S+ on port (\d+)")


async def start_server(
    database_url: str | None, log_dir: Path, env: Mapping[str, str] | None = None
) -> ServerProcess:
    """`sessions-server serve` in its own process on a free port, once it serves.

    With no `database_url` the process starts its embedded PostgreSQL.
    """
    server = launch_server(database_url, log_dir, env)
    try:
        server.address = f"127.0.0.1:{await _bound_port(server)}"
        await wait_serving(server.address)
    except TimeoutError:
        server.stop()
        raise TimeoutError(f"server did not start:\n{server.log()}") from None
    return server


def launch_server(
    database_url: str | None, log_dir: Path, env: Mapping[str, str] | None = None
) -> ServerProcess:
    """`sessions-server serve` just started, in its own process (no address yet)."""
    log_path = log_dir / f"server-{uuid.uuid4().hex[:8]}.log"
    environment = {
        **os.environ,
        "SESSIONS_DATABASE_URL": database_url or "",
        "SESSIONS_LISTEN": "127.0.0.1:0",
        "SESSIONS_AUTH": "insecure",
        **(env or {}),
    }
    if not environment["SESSIONS_DATABASE_URL"]:
        del environment["SESSIONS_DATABASE_URL"]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "sessions_server", "serve"],
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return ServerProcess(process, "", log_path)
