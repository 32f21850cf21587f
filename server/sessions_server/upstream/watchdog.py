"""A deadline for the waits of one reply, moved on between them cheaply.

Moving it is a float store. Its one timer, when it fires during a wait, re-arms
itself at the deadline if that moved on meanwhile, else cancels the waiting task,
and the wait ends with TimeoutError; firing between waits, it lapses and the next
wait arms it again. Time the caller spends between waits (writing what it read)
is never held against it, since only waits are cancelled. (`asyncio.timeout` per
wait would schedule and cancel a timer each time: measurable at thousands of
waits a second.)
"""

import asyncio
from types import TracebackType
from typing import Any


class Watchdog:
    """`with dog: await ...` for each wait; `dog.deadline = later` between them
    (it only ever moves later)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Task[Any] | None = None
        self._cancelling = 0
        self._expired = False

    def __enter__(self) -> None:
        if self._loop.time() >= self.deadline:
            raise TimeoutError
        waiter = asyncio.current_task()
        assert waiter is not None, "a watchdog guards the waits of a task"
        self._waiter = waiter
        self._cancelling = waiter.cancelling()
        if self._timer is None:
            self._timer = self._loop.call_at(self.deadline, self._check)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        waiter, self._waiter = self._waiter, None
        # As `asyncio.timeout` does: only our own cancellation becomes a timeout.
        if (
            self._expired
            and kind is asyncio.CancelledError
            and waiter is not None
            and waiter.uncancel() <= self._cancelling
        ):
            raise TimeoutError from None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._waiter is None:
            return
        if self._loop.time() < self.deadline:
            self._timer = self._loop.call_at(self.deadline, self._check)
            return
        self._expired = True
        self._waiter.cancel()
