"""An idle delivery worker is quiet: finding nothing to claim must not announce a change, or
it wakes itself (and every screen) in a loop that burns a core (found by the Links tests)."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from store import Settings, Store
from store.delivery import run_delivery

from .helpers import free_port


async def test_an_empty_outbox_announces_nothing(settings: Settings) -> None:
    configured = msgspec.structs.replace(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    async with await Store.open(configured) as store:
        events: list[frozenset[str]] = []

        async def listen() -> None:
            async with store.feed.listening() as changes:
                async for topics in changes:
                    events.append(topics)

        listener = asyncio.create_task(listen())
        stop = asyncio.Event()
        worker = asyncio.create_task(run_delivery(store, stop_event=stop, poll=0.05))
        await asyncio.sleep(0.5)  # ten polls
        stop.set()
        await asyncio.wait_for(worker, 5)
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    assert events == []
