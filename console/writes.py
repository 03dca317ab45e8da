"""Work that stores what the admin asked for (a decision, a new account, an export): `q` typed
right behind the Enter that started it quits only once it is stored.

Each such worker is marked where it starts (`UsherScreen.run_write`, `Writes.track`), so a new
kind of write cannot be forgotten in a list of worker groups kept elsewhere.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, TypeVar

from textual.worker import Worker

T = TypeVar("T")


class Writes:
    """The console's writes under way."""

    def __init__(self) -> None:
        self._workers: weakref.WeakSet[Worker[Any]] = weakref.WeakSet()

    def track(self, worker: Worker[T]) -> Worker[T]:
        self._workers.add(worker)
        return worker

    @property
    def under_way(self) -> int:
        return sum(1 for worker in list(self._workers) if not worker.is_finished)

    async def finish(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for each write under way; cancel one that takes longer
        (its own failure was already shown, and quitting goes on)."""
        for worker in list(self._workers):
            if worker.is_finished:
                continue
            try:
                await asyncio.wait_for(worker.wait(), timeout)
            except Exception:
                worker.cancel()
