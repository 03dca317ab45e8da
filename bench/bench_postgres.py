"""PostgreSQL against SQLite in the same run: link signups through the store (the cheap test
hasher, so the figure is the database's share of a signup, not argon2id's), and outbox claims.

Starts a throwaway PostgreSQL (tests/fixtures_postgres.py: Debian's `postgresql`, or
`USHER_TEST_POSTGRES_URL`). The "stores" figures are several stores (each its own pool and
listener, as separate `usher serve` processes have) in this one process, so they show what the
database's serialised writes allow, not what more cores would add.

Run: `make bench` or `.venv/bin/python bench/bench_postgres.py [--count N | --quick]`.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable

from _figures import arguments, figure, machine_line, size
from _stalls import LoopStalls, stall_figure

from store import Settings, Store, load_settings
from store.messaging.delivery import DeliveryPolicy, DeliveryWorker
from store.onboarding.signup import sign_up_by_link
from tests.fixtures_postgres import postgres_database, start_server
from tests.fixtures_smtp import queue_messages, with_smtp
from tests.helpers import cheap_hasher, form, make_link

CONCURRENT = 8
"""Signups in flight at once (as a balancer's servers would have)."""


async def _signups(settings_list: list[Settings], count: int) -> float:
    """Signups per second: `count` signups on one link, spread over stores on the settings."""
    stores = [await Store.open(s, hasher=cheap_hasher(), watch=False) for s in settings_list]
    try:
        link = await make_link(stores[0], confirm_email=False, max_uses=None)
        queue = asyncio.Queue[int]()
        for i in range(count):
            queue.put_nowait(i)

        async def client(store: Store) -> None:
            while not queue.empty():
                i = queue.get_nowait()
                await sign_up_by_link(store, link.token, form(f"p{i}@example.org"), actor="b")

        started = time.perf_counter()
        await asyncio.gather(*(client(stores[n % len(stores)]) for n in range(CONCURRENT)))
        took = time.perf_counter() - started
        made = await stores[0].engine.scalar("SELECT count(*) FROM users")
        assert made == count, (made, count)
        return count / took
    finally:
        for store in stores:
            await store.close()


async def _claims(settings_list: list[Settings], count: int) -> float:
    """Messages claimed per second by one worker per store, batches of 50, until none left."""
    stores = [await Store.open(s, watch=False) for s in settings_list]
    try:
        await queue_messages(stores[0], [f"p{i}@example.org" for i in range(count)])
        taken: list[int] = []

        async def drain(store: Store, n: int) -> None:
            worker = DeliveryWorker(store, None, DeliveryPolicy(batch=50), f"b{n}:{os.getpid()}:x")
            try:
                while batch := await worker.claim():
                    taken.extend(m.id for m in batch)
            finally:
                worker.release_mark()

        started = time.perf_counter()
        await asyncio.gather(*(drain(store, n) for n, store in enumerate(stores)))
        took = time.perf_counter() - started
        assert sorted(taken) == sorted(set(taken)) and len(taken) == count
        return count / took
    finally:
        for store in stores:
            await store.close()


async def _on_fresh(
    server: object,
    folder: str,
    engine: str,
    stores: int,
    run: Callable[[list[Settings]], Awaitable[float]],
) -> float:
    extra = {"port": 0, "rate_limit": 100_000}
    if engine == "sqlite":
        path = os.path.join(folder, f"u{time.monotonic_ns()}.db")
        settings = with_smtp(load_settings({"db": path, **extra}, environ={}), "smtp://127.0.0.1:9")
        return await run([settings] * stores)
    async with postgres_database(server) as url:  # type: ignore[arg-type]
        settings = with_smtp(load_settings({"db": url, **extra}, environ={}), "smtp://127.0.0.1:9")
        return await run([settings] * stores)


async def main(count: int) -> None:
    print(machine_line(), flush=True)
    server = start_server()
    try:
        with tempfile.TemporaryDirectory() as folder:

            async def signups(settings: list[Settings]) -> float:
                return await _signups(settings, count)

            async def claims(settings: list[Settings]) -> float:
                return await _claims(settings, count * 10)

            async with LoopStalls() as stalls:  # beside both engines: it costs them alike
                sqlite = await _on_fresh(server, folder, "sqlite", 1, signups)
                one = await _on_fresh(server, folder, "postgresql", 1, signups)
                three = await _on_fresh(server, folder, "postgresql", 3, signups)
                sqlite_claims = await _on_fresh(server, folder, "sqlite", 1, claims)
                pg_claims = await _on_fresh(server, folder, "postgresql", 3, claims)
            figure(f"signups, SQLite, 1 store ({count})", f"{sqlite:.0f}/s")
            figure(
                "signups, PostgreSQL, 1 store",
                f"{one:.0f}/s",
                goal=">= 0.9",
                ratio=one / sqlite,
                passed=one / sqlite >= 0.9,
            )
            figure("signups, PostgreSQL, 3 stores", f"{three:.0f}/s", ratio=three / sqlite)
            figure(f"claims, SQLite, 1 worker ({count * 10})", f"{sqlite_claims:.0f} msgs/s")
            figure(
                "claims, PostgreSQL, 3 workers",
                f"{pg_claims:.0f} msgs/s",
                ratio=pg_claims / sqlite_claims,
            )
            stall_figure(stalls)
    finally:
        server.stop()


if __name__ == "__main__":
    parsed = arguments(__doc__, default=300, quick=20).parse_args()
    asyncio.run(main(size(parsed, default=300, quick=20)))
