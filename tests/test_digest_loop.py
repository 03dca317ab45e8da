"""The USHER_NOTIFY digest runs by itself: the loop (with a short interval), inside the console,
and inside `usher serve` as a real process — a pending sign-up leads to one digest email."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from console.app import UsherApp
from store import Settings, Store
from store.onboarding.approvals import pending_digest_loop

from .fixtures_users import add_link, add_user, add_users, outbox_rows, user_row
from .helpers import eventually, start_serve

ADMIN = "ops@example.org"


def with_notify(settings: Settings, *admins: str) -> Settings:
    return msgspec.structs.replace(settings, notify=list(admins))


def digests(db: str | Path) -> list[dict[str, Any]]:
    return outbox_rows(db, "pending_digest")


def named(digest: dict[str, Any]) -> list[str]:
    return [person["email"] for person in digest["payload"]["people"]]


async def test_the_loop_sends_one_digest_per_batch_of_new_signups(settings: Settings) -> None:
    async with await Store.open(with_notify(settings, ADMIN), watch=False) as store:
        loop = asyncio.create_task(
            pending_digest_loop(store, interval=timedelta(0), check_seconds=0.02)
        )
        try:
            await add_user(store, "ann@example.org", first="Ann")

            async def one() -> bool:
                return len(digests(store.path)) == 1

            await eventually(one)
            await add_users(
                store, [user_row("bo@example.org"), user_row("cy@example.org", first="Cy")]
            )

            async def two() -> bool:
                return len(digests(store.path)) == 2

            await eventually(two)
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
        first, second = digests(store.path)
        assert first["recipient"] == ADMIN and named(first) == ["ann@example.org"]
        assert sorted(named(second)) == ["bo@example.org", "cy@example.org"]
        assert second["payload"]["count"] == 2 and second["payload"]["total_pending"] == 3


async def test_the_loop_ends_at_once_without_notify_addresses(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        await add_user(store, "ann@example.org")
        await asyncio.wait_for(pending_digest_loop(store, check_seconds=0.01), timeout=5)
        assert digests(store.path) == []


async def test_the_console_sends_the_digest(settings: Settings) -> None:
    notifying = with_notify(settings, ADMIN)
    async with await Store.open(notifying, watch=False) as store:
        link = await add_link(store, "Wiki link")
        await add_user(store, "ann@example.org", first="Ann", link_id=link)
    app = UsherApp(notifying, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:

        async def sent() -> bool:
            await pilot.pause()
            return bool(digests(notifying.db))

        await eventually(sent)
        await pilot.press("q")
    [digest] = digests(notifying.db)
    assert digest["recipient"] == ADMIN
    assert digest["payload"]["people"] == [
        {"name": "Ann", "email": "ann@example.org", "level": "member", "via": "Wiki link"}
    ]


def test_usher_serve_sends_the_digest(settings: Settings) -> None:
    async def seed() -> None:
        async with await Store.open(settings, watch=False) as store:
            await add_user(store, "ann@example.org", first="Ann")

    asyncio.run(seed())
    db = Path(settings.db)
    proc, _ = start_serve(db, USHER_NOTIFY="ops@example.org, boss@example.org")
    try:
        deadline = time.monotonic() + 20
        while not digests(db) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err
    sent = digests(db)
    assert sorted(d["recipient"] for d in sent) == ["boss@example.org", ADMIN]
    assert all(named(d) == ["ann@example.org"] for d in sent)
