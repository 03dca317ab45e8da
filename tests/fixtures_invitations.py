"""Fixtures and helpers for the email-invitation tests: a store with a cheap hasher, and the
accept link read back from the outbox (where the email's values wait for delivery)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

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
