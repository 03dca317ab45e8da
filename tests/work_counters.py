"""Counting the store's work (change-feed polls, write transactions), so a test can prove that
nothing happened by waiting for the work to be done, not by sleeping and hoping it ran."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from store import Store
from store.database.changes import Subscription
from store.database.engine import Transaction


class PollCounter:
    """Wraps `Engine.data_version` for `ChangeFeed.watch_other_processes` and counts polls."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.polls = 0
        self._polled = asyncio.Condition()

    async def __call__(self) -> int:
        version = await self._store.engine.data_version()
        async with self._polled:
            self.polls += 1
            self._polled.notify_all()
        return version

    async def more(self, count: int) -> None:
        """Return once `count` further polls have completed (each saw a settled database)."""
        target = self.polls + count
        async with self._polled:
            await self._polled.wait_for(lambda: self.polls >= target)


def watch_counting(store: Store, interval: float = 0.01) -> PollCounter:
    """Poll other processes' commits on a store opened with `watch=False`, counting polls."""
    counter = PollCounter(store)
    store.feed.watch_other_processes(counter, interval=interval)
    return counter


def pending(subscription: Subscription) -> frozenset[str]:
    """What `subscription` has been told and not yet handed out (empty: nothing announced)."""
    return frozenset(subscription._pending)


class WriteCounter:
    """Counts the write transactions committed through `store.write` (a delivery worker claims
    in one each round), so a test can let a worker go round N more times instead of sleeping."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._done = asyncio.Condition()
        original = store.write

        @contextlib.asynccontextmanager
        async def counted(*topics: str) -> AsyncIterator[Transaction]:
            async with original(*topics) as tx:
                yield tx
            async with self._done:
                self.count += 1
                self._done.notify_all()

        monkeypatch.setattr(store, "write", counted)

    async def more(self, count: int) -> None:
        """Return once `count` further write transactions have been committed."""
        target = self.count + count
        async with self._done:
            await self._done.wait_for(lambda: self.count >= target)
