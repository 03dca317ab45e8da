"""An idle delivery worker stays quiet: looking for due mail and finding none announces no
change, or the worker would wake itself (and every screen following the change feed) in a loop
that burns a core (found by the Links tests). Counted in rounds of the worker, not in seconds."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from store import Store
from store.messaging.delivery import run_delivery

from .fixtures_smtp import FAST, SmtpServer, mail_store, smtp_server
from .work_counters import WriteCounter

__all__ = ["mail_store", "smtp_server"]


async def test_looking_for_mail_and_finding_none_announces_nothing(
    mail_store: Store, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard: list[frozenset[str]] = []

    async def listen() -> None:
        async with mail_store.feed.listening() as changes:
            async for topics in changes:
                heard.append(topics)

    listener = asyncio.create_task(listen())
    rounds = WriteCounter(mail_store, monkeypatch)  # each round claims in one transaction
    stop = asyncio.Event()
    worker = asyncio.create_task(run_delivery(mail_store, stop_event=stop, **FAST))
    await asyncio.wait_for(rounds.more(10), 60)
    stop.set()
    await asyncio.wait_for(worker, 10)
    await asyncio.sleep(0)  # let the listener take anything already announced
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    assert heard == []
    assert smtp_server.handler.connections == 0
