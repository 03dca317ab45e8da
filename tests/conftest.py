"""Shared fixtures: a real SQLite file per test, settings that point at it, a store with a cheap
hasher, a listening loopback socket, Debian's chromium, the SMTP fake and PostgreSQL."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from litestar.testing import AsyncTestClient
from playwright.async_api import Browser, async_playwright

from signup_server import create_app
from signup_server.runner import bind_socket, bound_port
from store import Settings, Store, load_settings

from .browsers import CHROMIUM, CHROMIUM_ARGS
from .fixtures_postgres import (
    empty_postgres_url,
    own_postgres_server,
    own_postgres_url,
    postgres_server,
    postgres_url,
)
from .fixtures_security import Client
from .fixtures_smtp import smtp, smtp_server
from .helpers import cheap_hasher

__all__ = [
    "empty_postgres_url",
    "own_postgres_server",
    "own_postgres_url",
    "postgres_server",
    "postgres_url",
    "smtp",
    "smtp_server",
]

hypothesis_settings.register_profile("usher", deadline=None)
hypothesis_settings.load_profile("usher")
"""No wall-clock deadline for any property test: a loaded CI machine is slow, not wrong."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh database file, with a rate limit high enough for tests."""
    return load_settings(
        {"db": str(tmp_path / "usher.db"), "port": 0, "rate_limit": 10_000}, environ={}
    )


@pytest.fixture(autouse=True)
def private_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Exports default to the user's data folder: in tests, one under the test's temp dir."""
    home = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    opened = await Store.open(settings)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def fast_store(settings: Settings) -> AsyncIterator[Store]:
    opened = await Store.open(settings, hasher=cheap_hasher())
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def listening(settings: Settings) -> Iterator[tuple[socket.socket, Settings]]:
    """A listening loopback socket and settings whose public URL points at it."""
    sock = bind_socket("127.0.0.1", 0)
    try:
        yield sock, settings.with_port(bound_port(sock))
    finally:
        sock.close()


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


@pytest.fixture
async def client(fast_store: Store, settings: Settings) -> AsyncIterator[Client]:
    """The signup server in process, on the test's store."""
    app = create_app(fast_store, settings, secret_key=await fast_store.secret_key())
    async with AsyncTestClient(app) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def logging_left_as_found() -> Iterator[None]:
    """A test that leaves the root logger's level changed makes later tests see records they
    never would (the test client's own request lines, say): fail the test that changed it."""
    root = logging.getLogger()
    level = root.level
    yield
    changed = root.level
    root.setLevel(level)
    assert changed == level, f"the root logger's level went from {level} to {changed}"


def _sqlite_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]


@pytest.fixture(autouse=True)
def no_leaked_database_connections() -> Iterator[None]:
    """An unclosed aiosqlite connection keeps a non-daemon thread alive, and the test process
    would never exit (a hung CI). Fail the test that leaked one instead."""
    before = set(_sqlite_threads())
    yield
    deadline = time.monotonic() + 3
    leaked = [t for t in _sqlite_threads() if t not in before]
    while leaked and time.monotonic() < deadline:
        time.sleep(0.05)
        leaked = [t for t in _sqlite_threads() if t not in before and t.is_alive()]
    assert not leaked, f"{len(leaked)} database connection(s) left open: close the Store"
