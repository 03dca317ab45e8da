"""Helpers for the email-invitation tests: sending invitations, the accept link read back from the
outbox (where the email's values wait for delivery), and a live signup server.

The cheap-hasher store (`fast_store`), `live_server` and the browser set-up are the ones in
`helpers`, shared rather than copied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from signup_server.runner import bind_socket, bound_port
from store import Settings, Store
from store.onboarding.email_lists import parse_email_list
from store.onboarding.invitations import SendResult, send_invitations

from .helpers import cheap_hasher, live_server

ADMIN = "alice (ssh 10.0.0.7)"


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


# --- a live signup server ----------------------------------------------------------------


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
