"""Background tasks that never die silently: each runs under a `Supervisor`, which logs a crash
with its traceback, remembers it for the dashboard, and starts the task again after a backoff.

Both the console and `usher serve` run their background work (mail and webhook delivery,
housekeeping, the admin digest, the change watcher) through one, so one task's crash neither
stops the others nor goes unnoticed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import datetime

import msgspec

from store.domain.clock import now

log = logging.getLogger("usher.tasks")


class TaskCrash(msgspec.Struct, frozen=True, kw_only=True):
    """The last crash of one task, as the dashboard shows it."""

    task: str
    at: datetime
    error: str
    """The error's last line, e.g. `UnicodeEncodeError: 'ascii' codec can't encode …`."""
    restarts: int
    """How many times this task has been started again so far."""


def error_line(error: BaseException) -> str:
    return traceback.format_exception_only(error)[-1].strip()


class Supervisor:
    """Runs tasks, restarting each after a crash: `base_delay` seconds, doubled per crash in a
    row up to `max_delay`; a run that lasted `healthy_after` seconds resets the count."""

    def __init__(
        self,
        *,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        healthy_after: float = 600.0,
        on_crash: Callable[[TaskCrash], None] | None = None,
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.healthy_after = healthy_after
        self.on_crash = on_crash
        self.crashes: dict[str, TaskCrash] = {}
        """The last crash of each task that crashed, by task name."""

    def backoff(self, in_a_row: int) -> float:
        return min(self.max_delay, self.base_delay * 2.0 ** max(0, in_a_row - 1))

    async def run(self, name: str, start: Callable[[], Awaitable[None]]) -> None:
        """Run `start()` until it returns (done) or is cancelled; restart it after each crash."""
        restarts = 0
        in_a_row = 0
        while True:
            started = time.monotonic()
            try:
                await start()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if time.monotonic() - started >= self.healthy_after:
                    in_a_row = 0
                in_a_row += 1
                delay = self.backoff(in_a_row)
                log.error(
                    "background task %r crashed; starting it again in %.1f s",
                    name,
                    delay,
                    exc_info=error,
                )
                crash = TaskCrash(task=name, at=now(), error=error_line(error), restarts=restarts)
                self.crashes[name] = crash
                if self.on_crash is not None:
                    self.on_crash(crash)
                await asyncio.sleep(delay)
                restarts += 1
                continue
            return
