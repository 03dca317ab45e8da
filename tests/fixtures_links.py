"""Fixtures and helpers for the invite-link tests: a store with a cheap hasher, links, outbox
reads and a signup server on a real loopback port.

The cheap hasher, `fast_store`, `live_server` and the browser here are the shared ones: the
invitation, bulk and add-user tests use them too, so there is one of each."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from axe_playwright_python.async_playwright import Axe
from litestar import Litestar
from playwright.async_api import Browser, Page, async_playwright

from signup_server import create_app
from signup_server.runner import EmbeddedServer, bind_socket, bound_port, make_server
from store import Settings, Store
from store.domain.passwords import Hasher
from store.onboarding.links import Link, LinkDraft, create_link
from store.onboarding.signup import SignupForm

from .helpers import ROOT

CHEAP = {"time_cost": 1, "memory_kib": 8}
"""argon2id parameters for tests: the same code paths, a fraction of a millisecond per hash."""

GOOD_PASSWORD = "correct horse battery staple"


def cheap_hasher() -> Hasher:
    return Hasher(**CHEAP)


@pytest.fixture
async def fast_store(settings: Settings) -> AsyncIterator[Store]:
    opened = await Store.open(settings, hasher=cheap_hasher())
    try:
        yield opened
    finally:
        await opened.close()


async def make_link(store: Store, **fields: Any) -> Link:
    draft = msgspec.structs.replace(LinkDraft(), **fields)
    return await create_link(store, draft, actor="tester")


def form(email: str = "ann@example.org", **fields: str) -> SignupForm:
    values = {
        "email": email,
        "first_name": "Ann",
        "last_name": "Lee",
        "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
        **fields,
    }
    return SignupForm(**values)


async def outbox_rows(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows, oldest first, with the payload decoded."""
    rows = await store.engine.fetchall(
        "SELECT * FROM outbox WHERE ? IS NULL OR kind = ? ORDER BY id", (kind, kind)
    )
    result = []
    for row in rows:
        item = dict(zip(row.keys(), row, strict=True))
        item["values"] = msgspec.json.decode(item["payload"])
        result.append(item)
    return result


def token_in(url: str, route: str) -> str:
    match = re.search(rf"/{route}/([A-Za-z0-9_-]+)", url)
    assert match, url
    return match.group(1)


async def age_user(store: Store, email: str, by: timedelta) -> None:
    """Move an account's creation (and its tokens) into the past."""
    from store.domain.clock import from_db, to_db

    async with store.write("users") as tx:
        row = await tx.fetchone("SELECT id, created_at FROM users WHERE email = ?", (email,))
        assert row is not None
        earlier = to_db(from_db(row["created_at"]) - by)
        await tx.execute(
            "UPDATE users SET created_at = ?, updated_at = ? WHERE id = ?",
            (earlier, earlier, row["id"]),
        )
        tokens = await tx.fetchall(
            "SELECT id, expires_at FROM action_tokens WHERE user_id = ?", (row["id"],)
        )
        for token in tokens:
            await tx.execute(
                "UPDATE action_tokens SET expires_at = ? WHERE id = ?",
                (to_db(from_db(token["expires_at"]) - by), token["id"]),
            )


@pytest.fixture
def listening(settings: Settings) -> Iterator[tuple[socket.socket, Settings]]:
    """A listening loopback socket and settings whose public URL points at it."""
    sock = bind_socket("127.0.0.1", 0)
    try:
        yield sock, settings.with_port(bound_port(sock))
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def live_server(store: Store, sock: socket.socket) -> AsyncIterator[Litestar]:
    """The signup app under uvicorn on `sock`, on this event loop (as the console runs it)."""
    app = create_app(store, store.settings, secret_key=await store.secret_key())
    server: EmbeddedServer = make_server(app, graceful_seconds=1)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield app
    finally:
        server.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


# --- browser -------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
WCAG_21_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
ARTIFACTS = ROOT / "test-artifacts" / "signup"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium driven by Playwright (no `playwright install`)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


class PageChecker:
    """Saves a screenshot of each page it is shown and runs axe-core on it (WCAG 2.1 A/AA)."""

    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / name
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.count = 0
        self.axe = Axe()

    async def check(self, page: Page, name: str) -> None:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        await page.wait_for_load_state("load")  # the stylesheet is in: full height
        await page.screenshot(path=str(path), full_page=True)
        results = await self.axe.run(page, options=WCAG_21_AA)
        assert results.violations_count == 0, f"{name}: {results.generate_report()}"
