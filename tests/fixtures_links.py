"""Fixtures and helpers for the invite-link tests: a store with a cheap hasher, links, outbox
reads and a signup server on a real loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from litestar import Litestar

from signup_server import create_app
from signup_server.runner import EmbeddedServer, bind_socket, bound_port, make_server
from store import Settings, Store
from store.links import Link, LinkDraft, create_link
from store.passwords import Hasher
from store.signup import SignupForm

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
    from store.clock import from_db, to_db

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
