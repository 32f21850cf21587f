"""Live events across replicas: one LISTEN connection per process, fanned out to
this process's watchers.

Every write that changes a session records an event in the outbox and, when some
replica watches its owner, NOTIFYs `store.events.CHANNEL` with `{owner,
session_id, type, id}` (see `store/events.py`). A subscription marks its owner as
watched before its watcher first reads, and the hub renews the marks of its owners
while they are watched: a commit that NOTIFYs waits on every other such commit in
the cluster, so the owners nobody watches do not. Each replica holds ONE dedicated
asyncpg connection, outside the SQLAlchemy pool, that LISTENs on that channel. It
must reach PostgreSQL directly: a transaction-pooling PgBouncer hands each
transaction to any server connection, and a LISTEN does not outlive its
transaction there.

A notification only wakes the watchers of its owner in this process; each watcher
then reads the outbox after its own position (`watch.py`). So a watcher holds no
queue of events here, just its position and a wake-up flag: however far a slow
client falls behind, it costs no memory, and it reads the rows it missed in
batches once it catches up (or learns that they expired).

After the connection is lost (a database restart, a network cut) the listener
reconnects with backoff, LISTENs again and then wakes every watcher, each of which
reads the outbox after its own position: what was committed while nobody listened
is delivered, and nothing twice.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import make_url

from sessions_server.errors import ServiceError, ShuttingDown
from sessions_server.store import Store
from sessions_server.store import events as event_rows
from sessions_server.store.events import CHANNEL

log = logging.getLogger(__name__)

# A connection can die without a word (a cut network): it is probed this often.
PING_INTERVAL = 5.0
PING_TIMEOUT = 5.0
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
APPLICATION_NAME = "sessions-server-listener"
MARK_SECONDS = 60.0
"""How long an owner stays marked as watched; renewed every third of it while a
subscription of the owner lasts here, so one dead replica's marks lapse soon."""


def direct_dsn(url: str) -> str:
    """The service's SQLAlchemy URL as asyncpg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Subscription:
    """One watcher's link to the hub: its outbox position and a wake-up flag."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.position = 0
        """Id of the last event the watcher delivered (or started after)."""
        self._wake = asyncio.Event()
        self._ended: ServiceError | None = None

    def notify(self, event_id: int) -> None:
        if event_id > self.position:
            self._wake.set()

    def resync(self) -> None:
        """Wakes the watcher whatever its position: events may have gone unheard."""
        self._wake.set()

    def end(self, error: ServiceError) -> None:
        self._ended = error
        self._wake.set()

    def check(self) -> None:
        """Raises the error the watcher was ended with, if it was."""
        if self._ended is not None:
            raise self._ended

    async def wait(self, at_most: float | None = None) -> None:
        """Until woken, or `at_most` seconds; raises once the watcher is ended."""
        self.check()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self._wake.wait()
        self._wake.clear()
        self.check()


class Listener(Protocol):
    """Hears another channel on the hub's connection."""

    def on_notification(self, payload: str) -> None: ...

    def resync(self) -> None:
        """The connection was lost and is back: notifications may have gone unheard."""


class EventHub:
    """The process's listener and its registry of watchers, by owner."""

    def __init__(
        self,
        database_url: str,
        store: Store,
        connect_timeout: float,
        others: Mapping[str, Listener] | None = None,
    ) -> None:
        self._dsn = direct_dsn(database_url)
        self._connect_timeout = connect_timeout
        self._store = store
        self._others = dict(others or {})
        self._watchers: dict[str, set[Subscription]] = {}
        self._marked: dict[str, float] = {}
        """When each watched owner's mark was last renewed (monotonic seconds)."""
        self._listening = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ended: ServiceError | None = None

    async def start(self) -> None:
        """Starts the listener and the renewal of marks; returns once it listens."""
        self._tasks = [
            asyncio.create_task(self._run(), name="events-listener"),
            asyncio.create_task(self._renew_marks(), name="events-marks"),
        ]
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._listening.wait()
        except TimeoutError:
            await self.close()
            raise

    @contextlib.asynccontextmanager
    async def subscribe(self, owner: str) -> AsyncIterator[Subscription]:
        """A subscription to `owner`'s events for the duration of the block, the
        owner marked as watched (committed) before the block starts."""
        if self._ended is not None:
            raise self._ended
        subscription = Subscription(owner)
        self._watchers.setdefault(owner, set()).add(subscription)
        try:
            await self._mark(owner)
            yield subscription
        finally:
            watchers = self._watchers[owner]
            watchers.discard(subscription)
            if not watchers:
                del self._watchers[owner]
                self._marked.pop(owner, None)

    def end_watchers(self, error: ServiceError) -> None:
        """Ends every watcher with `error` and refuses new ones (shutdown)."""
        self._ended = error
        for watchers in self._watchers.values():
            for subscription in watchers:
                subscription.end(error)

    async def close(self) -> None:
        """Ends the watchers left and closes the listening connection."""
        if self._ended is None:
            self.end_watchers(ShuttingDown())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _mark(self, owner: str) -> None:
        renewing = time.monotonic()
        async with self._store.scope(owner) as scope:
            await event_rows.mark_watched(scope, MARK_SECONDS)
        if owner in self._watchers:  # not left meanwhile
            self._marked[owner] = renewing

    async def _renew_marks(self) -> None:
        """Renews the marks of the owners watched here. A mark renewed too late may
        have lapsed, and the events recorded meanwhile went unnotified: that owner's
        watchers are woken to read them."""
        while True:
            await asyncio.sleep(MARK_SECONDS / 3)
            for owner, renewed in list(self._marked.items()):
                try:
                    await self._mark(owner)
                except Exception as error:
                    log.warning("renewing the watch mark of an owner failed (%s)", error)
                    continue
                if time.monotonic() - renewed >= MARK_SECONDS:
                    for subscription in self._watchers.get(owner, ()):
                        subscription.resync()

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            notice = json.loads(payload)
            owner, event_id = str(notice["owner"]), int(notice["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed notification on %s", CHANNEL)
            return
        for subscription in self._watchers.get(owner, ()):
            subscription.notify(event_id)

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    timeout=self._connect_timeout,
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except Exception as error:
                log.warning("events listener cannot connect (%s); retry in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            connected_at = time.monotonic()
            try:
                await self._listen(connection)
            except Exception as error:
                log.warning("events listener lost its connection (%s); reconnecting", error)
            finally:
                self._listening.clear()
                connection.terminate()
            # A connection that dies at once again and again must not spin.
            if time.monotonic() - connected_at > BACKOFF_MAX:
                delay = BACKOFF_FIRST
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _listen(self, connection: asyncpg.Connection) -> None:
        """Listens until the connection is lost."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(CHANNEL, self._on_notification)
        for channel, listener in self._others.items():
            await connection.add_listener(channel, _hearing(listener))
        # From here no commit goes unheard; what was committed before is in the
        # outbox, and every watcher reads it after its own position.
        for watchers in self._watchers.values():
            for subscription in watchers:
                subscription.resync()
        for listener in self._others.values():
            listener.resync()
        self._listening.set()
        log.info("events listener is listening on %s", CHANNEL)
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PING_INTERVAL):
                    await lost.wait()
            if not lost.is_set():
                await connection.execute("SELECT 1", timeout=PING_TIMEOUT)
        raise ConnectionError("the database closed the connection")


def _hearing(listener: Listener) -> Callable[[Any, int, str, str], None]:
    """An asyncpg notification callback that hands the payload to `listener`."""

    def heard(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        listener.on_notification(payload)

    return heard
