"""A real server on a fresh database, for the tests of the other languages' clients.

    python -m tests.support.live_server             prints {"address": "127.0.0.1:PORT"}
                                                    and serves until stdin closes
    python -m tests.support.live_server -- CMD ...  runs CMD with SESSIONS_ADDRESS set,
                                                    exits with its status

Either way the server process is stopped and the database dropped afterwards. The
database is a new one on SESSIONS_TEST_DATABASE_URL, else an embedded PostgreSQL.
"""

import asyncio
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from tests.support.database import fresh_database
from tests.support.processes import start_server


async def _until_stdin_closes_or_sigterm() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    eof = asyncio.ensure_future(reader.read())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([eof, stopped], return_when=asyncio.FIRST_COMPLETED)
    eof.cancel()
    stopped.cancel()


async def _run(command: list[str], address: str) -> int:
    process = await asyncio.create_subprocess_exec(
        *command, env={**os.environ, "SESSIONS_ADDRESS": address}
    )
    return await process.wait()


async def serve(database_url: str, logs: Path, command: list[str]) -> int:
    server = await start_server(database_url, logs)
    try:
        if command:
            code = await _run(command, server.address)
            if code != 0:
                print(server.log(), file=sys.stderr)
            return code
        print(json.dumps({"address": server.address}), flush=True)
        await _until_stdin_closes_or_sigterm()
        return 0
    finally:
        server.stop()


def main() -> None:
    args = sys.argv[1:]
    command = args[args.index("--") + 1 :] if "--" in args else []
    with fresh_database() as url, tempfile.TemporaryDirectory(prefix="sessions-live-") as logs:
        code = asyncio.run(serve(url, Path(logs), command))
    sys.exit(code)


if __name__ == "__main__":
    main()
