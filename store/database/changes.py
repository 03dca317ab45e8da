"""The change feed: subscribers hear of every commit, from this process at once and from other
processes within one poll of `PRAGMA data_version`.

An event is a set of topics (table names). Commits by another process carry the topic
`EXTERNAL`: we cannot know which tables they touched, so listeners refresh everything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

EXTERNAL = "*"
POLL_INTERVAL = 0.1


class Subscription:
    """Async iterator of change events; events that arrive while the reader is busy coalesce."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed
        self._pending: set[str] = set()
        self._ready = asyncio.Event()

    def _push(self, topics: set[str]) -> None:
        self._pending |= topics
        self._ready.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> frozenset[str]:
        await self._ready.wait()
        self._ready.clear()
        topics, self._pending = frozenset(self._pending), set()
        return topics

    def close(self) -> None:
        self._feed._subscriptions.discard(self)


class ChangeFeed:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._poller: asyncio.Task[None] | None = None

    def publish(self, topics: set[str]) -> None:
        for subscription in list(self._subscriptions):
            subscription._push(topics)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscriptions.add(subscription)
        return subscription

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[Subscription]:
        subscription = self.subscribe()
        try:
            yield subscription
        finally:
            subscription.close()

    def watch_other_processes(
        self, read_version: Callable[[], Awaitable[int]], interval: float = POLL_INTERVAL
    ) -> None:
        """Start polling `read_version` (SQLite's data_version) and publish EXTERNAL on change."""
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(read_version, interval))

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def _poll(self, read_version: Callable[[], Awaitable[int]], interval: float) -> None:
        """Never dies: a failed read (the first one too) is retried on the next tick."""
        last: int | None = None
        while True:
            try:
                current: int | None = await read_version()
            except Exception:
                current = last
            if last is not None and current != last:
                self.publish({EXTERNAL})
            last = current
            await asyncio.sleep(interval)
