"""`sessions-server serve | migrate`."""

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
import warnings

import uvloop

from sessions_server import database
from sessions_server.app import build_server
from sessions_server.config import Settings
from sessions_server.store.scope import database_failure

log = logging.getLogger("sessions_server")


EXIT_ABANDONED = 1
"""Stopped, but replies or leases could not be written back (the database did not
answer within the grace period and its margin)."""
EXIT_UNREACHABLE = 3
"""The database could not be reached at start."""


async def serve(settings: Settings, url: str) -> int:
    """Serves until SIGTERM or SIGINT; the process's exit code."""
    try:
        app = await build_server(settings, url)
    except Exception as error:
        _exit_if_unreachable(error, url)
        raise
    _freeze_startup_heap()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("shutting down: %.1f s for calls in flight", settings.shutdown_grace)
    if not await app.stop(settings.shutdown_grace):
        # Tasks left waiting on the database would hold the exit up as the event
        # loop closes (a cancelled connection still finishes its close): leave now.
        logging.shutdown()
        os._exit(EXIT_ABANDONED)
    log.info("stopped")
    return 0


def _exit_if_unreachable(error: Exception, url: str) -> None:
    """Ends the process in one log line when `error` says the database at `url`
    cannot be reached."""
    if database_failure(error) is not None:
        log.error("cannot reach the database at %s: %s", database.describe(url), _cause(error))
        sys.exit(EXIT_UNREACHABLE)


def _cause(error: BaseException) -> str:
    """The innermost reason of `error`, in one line."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _freeze_startup_heap() -> None:
    """Takes what startup left alive out of the garbage collector's reach.

    Modules, schemas, descriptors and pools live as long as the process, yet every
    full collection walked them all: under a stream of Sends that was a pause of
    about 50 ms every few seconds, stalling every call at once. Frozen, the same
    collections take about 5 ms.
    """
    gc.collect()
    gc.freeze()
    log.info("startup heap frozen: %d objects out of garbage collection", gc.get_freeze_count())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sessions-server", description=__doc__)
    parser.add_argument("command", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The embedded PostgreSQL logs each command it runs, with its whole output.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # httpx logs every request it makes at INFO: a line per Send, and measurable.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", module="platformdirs")
    settings = Settings()
    url = database.database_url(settings)
    if args.command == "migrate":
        try:
            database.migrate(url, settings.database_role, settings.database_connect_timeout)
        except Exception as error:
            _exit_if_unreachable(error, url)
            raise
        log.info("migrations applied")
        return
    sys.exit(uvloop.run(serve(settings, url)))
