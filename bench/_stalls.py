"""The event loop's largest stall while a benchmark runs: a task that sleeps 1 ms and records how
late it wakes. A stall is time no other task (a key press, a frame, the change feed) could run.

    async with LoopStalls() as stalls:
        ...
    stalls.largest, stalls.largest_on_cpu

Not a benchmark itself (`make bench` runs only `bench/bench_*.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType

TICK = 0.001
STALL_GOAL = 0.02
"""Issue #19: the event loop never stalls longer (keys, frames and pages wait meanwhile)."""


class LoopStalls:
    """`largest`: the longest the loop was late (seconds). `largest_on_cpu`: how much of that
    stall the loop's thread spent on the CPU — near `largest` means our code held the loop;
    far below means the process waited for a core (a busy machine) or for the GIL."""

    def __init__(self) -> None:
        self.largest = self.largest_on_cpu = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while True:
            await asyncio.sleep(TICK)
            now, cpu = time.perf_counter(), time.thread_time()
            late = now - last - TICK
            if late > self.largest:
                self.largest, self.largest_on_cpu = late, cpu - last_cpu
            last, last_cpu = now, cpu

    async def __aenter__(self) -> LoopStalls:
        self._task = asyncio.create_task(self._watch())
        await asyncio.sleep(0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def text(self) -> str:
        return f"{self.largest * 1000:.1f} ms ({self.largest_on_cpu * 1000:.1f} on CPU)"


def stall_figure(stalls: LoopStalls, name: str = "largest event-loop stall") -> None:
    """The figure line every benchmark prints for its run (goal, issue #19: < 20 ms)."""
    from _figures import figure

    figure(
        name,
        stalls.text(),
        goal=f"< {STALL_GOAL * 1000:.0f} ms",
        passed=stalls.largest < STALL_GOAL,
    )
