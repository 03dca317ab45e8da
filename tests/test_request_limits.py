"""Per-client limits held in the database (store.service.request_limits): one count for every
process on the file, an exact sliding minute, and the honest wait."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from console.ssh_server import FAILURE_LIMIT
from store import Settings, Store
from store.domain.clock import moved_clock
from store.service.request_limits import admit, count, refused_for

from .fixtures_postgres import settings_on_both_engines
from .fixtures_security import csrf_from
from .helpers import two_servers

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


async def test_a_client_gets_its_limit_then_the_wait_until_its_oldest_post_leaves(
    store: Store,
) -> None:
    engine = store.engine
    assert [await admit(engine, "post", "198.51.100.7", 3) for _ in range(3)] == [0, 0, 0]
    with moved_clock(timedelta(seconds=20)):
        wait = await admit(engine, "post", "198.51.100.7", 3)
        assert 39 <= wait <= 41  # the first of the three leaves the minute 40 s from now
        assert await admit(engine, "post", "198.51.100.8", 3) == 0  # another client is free
    with moved_clock(timedelta(seconds=61)):
        assert await admit(engine, "post", "198.51.100.7", 3) == 0
    rows = await engine.fetchall("SELECT client FROM client_events")
    assert "198.51.100.7" not in {row[0] for row in rows}  # stored as digests


async def test_a_refused_request_is_not_counted(store: Store) -> None:
    engine = store.engine
    for _ in range(2):
        await admit(engine, "post", "c", 2)
    for _ in range(5):
        assert await admit(engine, "post", "c", 2) > 0
    assert await engine.scalar("SELECT count(*) FROM client_events") == 2


async def test_two_processes_racing_share_one_count(settings: Settings) -> None:
    """Two Store objects on one file stand for two processes: 20 POSTs at once, 5 admitted."""
    async with await Store.open(settings) as one, await Store.open(settings) as two:
        answers = await asyncio.gather(
            *(admit((one, two)[n % 2].engine, "post", "203.0.113.9", 5) for n in range(20))
        )
    assert answers.count(0) == 5


async def test_refused_ssh_keys_count_for_every_server_process(settings: Settings) -> None:
    async with await Store.open(settings) as one, await Store.open(settings) as two:
        for _ in range(FAILURE_LIMIT - 1):
            await count(one.engine, "ssh-key", "192.0.2.4")
        assert await refused_for(two.engine, "ssh-key", "192.0.2.4", FAILURE_LIMIT) == 0
        await count(two.engine, "ssh-key", "192.0.2.4")
        assert await refused_for(one.engine, "ssh-key", "192.0.2.4", FAILURE_LIMIT) > 0
        assert await refused_for(one.engine, "ssh-key", "192.0.2.5", FAILURE_LIMIT) == 0


async def test_two_usher_serve_processes_share_the_post_limit(settings: Settings) -> None:
    """USHER_RATE_LIMIT=5 on two real `usher serve` processes on one file: 12 POSTs from one
    client, alternating between them, get 5 answers and 7 refusals in all (each process
    counting alone let 10 through)."""
    async with await Store.open(settings):
        pass  # the file, migrated
    with two_servers(settings.db, USHER_RATE_LIMIT="5") as urls:
        async with httpx.AsyncClient(timeout=120) as browser:
            page = await browser.get(urls[0] + "/password/forgot")
            token = csrf_from(page.text)
            answers = [
                await browser.post(
                    urls[n % 2] + "/password/forgot",
                    data={"_csrf_token": token, "email": "nobody@example.org"},
                )
                for n in range(12)
            ]
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(429) == 7, statuses
    assert {a.url.port for a in answers if a.status_code == 429} == {
        httpx.URL(url).port for url in urls
    }
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status_code == 429)
