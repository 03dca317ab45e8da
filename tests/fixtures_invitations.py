"""Fixtures and helpers for the email-invitation tests: a store with a cheap hasher, and the
accept link read back from the outbox (where the email's values wait for delivery)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from signup_server import create_app
from signup_server.runner import EmbeddedServer, bind_socket, bound_port, make_server
from store import Settings, Store
from store.email_lists import parse_email_list
from store.invitations import SendResult, send_invitations
from store.passwords import Hasher

ADMIN = "alice (ssh 10.0.0.7)"
GOOD_PASSWORD = "correct horse battery staple"


def cheap_hasher() -> Hasher:
    """argon2id at its cheapest: tests check behaviour, not hashing cost."""
    return Hasher(time_cost=1, memory_kib=8)


@pytest.fixture
async def istore(settings: Settings) -> AsyncIterator[Store]:
    opened = await Store.open(settings, hasher=cheap_hasher())
    try:
        yield opened
    finally:
        await opened.close()


async def invite(
    store: Store, text: str, *, level: str = "member", actor: str = ADMIN, **options: Any
) -> SendResult:
    return await send_invitations(
        store, parse_email_list(text).entries, level=level, actor=actor, **options
    )


async def outbox_payload(store: Store, email: str) -> dict[str, Any]:
    """The newest invitation email's values for `email`."""
    row = await store.engine.fetchone(
        "SELECT payload FROM outbox WHERE recipient = ? AND kind = 'invitation' "
        "ORDER BY id DESC LIMIT 1",
        (email,),
    )
    assert row is not None, f"no invitation email for {email}"
    payload: dict[str, Any] = msgspec.json.decode(row["payload"])
    return payload


async def accept_link(store: Store, email: str) -> str:
    return str((await outbox_payload(store, email))["accept_url"])


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def scalar(store: Store, sql: str, *params: Any) -> Any:
    return await store.engine.scalar(sql, params)


# --- a live signup server and a real browser ----------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@contextlib.asynccontextmanager
async def live_server(store: Store, sock: socket.socket) -> AsyncIterator[None]:
    """The signup app under uvicorn on `sock`, on this event loop (as the console runs it)."""
    app = create_app(store, store.settings, secret_key=await store.secret_key())
    server: EmbeddedServer = make_server(app, graceful_seconds=1)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield
    finally:
        server.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[Store]:
    """A store whose settings carry the real port, with the signup server answering there."""
    sock = bind_socket("127.0.0.1", 0)
    bound = settings.with_port(bound_port(sock))
    try:
        opened = await Store.open(bound, hasher=cheap_hasher())
        async with opened, live_server(opened, sock):
            yield opened
    finally:
        sock.close()
