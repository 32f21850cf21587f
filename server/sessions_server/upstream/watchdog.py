"""A deadline that moves with every event of a reply, cheaply.

Moving it is a float store. Its one timer, when it fires, re-arms itself at the
deadline if that moved on meanwhile, else cancels the task, and the block ends
with TimeoutError. (`asyncio.timeout`'s `reschedule` replaces a timer each time:
measurable at thousands of events a second.)
"""

import asyncio
from types import TracebackType


class Watchdog:
    """`with Watchdog(deadline) as dog:` ... `dog.deadline = later` ..."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "a watchdog guards a task"
        self._task = task
        self._cancelling = task.cancelling()
        self._expired = False
        self._timer = self._loop.call_at(deadline, self._check)

    def __enter__(self) -> "Watchdog":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        # As `asyncio.timeout` does: only our own cancellation becomes a timeout.
        if (
            self._expired
            and kind is asyncio.CancelledError
            and self._task.uncancel() <= self._cancelling
        ):
            raise TimeoutError from None

    def _check(self) -> None:
        if self._loop.time() < self.deadline:
            self._timer = self._loop.call_at(self.deadline, self._check)
            return
        self._expired = True
        self._task.cancel()
