"""Webhooks: the organisation's other systems follow account events without reading our tables.

Every account event is written as an outbox row (`channel = 'webhook'`) in the SAME transaction
as the change, so a rolled-back change sends nothing and a committed one is delivered at least
once, with retries, by `store.webhook_delivery`. The row holds the exact JSON body (signed again
on each attempt with `USHER_WEBHOOK_SECRET`, which is never stored) and its event id, which stays
the same across retries so receivers can deduplicate.

Call sites write one line: `await emit(tx, store.settings, "user.created", user)`; it does
nothing when `USHER_WEBHOOK_URL` is unset.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec

from .clock import db_now, from_db
from .engine import Transaction
from .settings import Settings

Event = Literal[
    "user.created",
    "user.confirmed",
    "user.approved",
    "user.rejected",
    "user.level_changed",
    "user.disabled",
    "user.enabled",
    "user.deleted",
]

SIGNATURE_HEADER = "X-Usher-Signature"
EVENT_ID_HEADER = "X-Usher-Event-Id"
EVENT_TYPE_HEADER = "X-Usher-Event"
CHANNEL = "webhook"

_INSERT = """INSERT INTO outbox (channel, recipient, recipient_name, kind, payload, status,
                                 next_attempt_at, message_id, created_at)
             VALUES ('webhook', ?, '', ?, ?, 'queued', ?, ?, ?)"""


def _field(user: Any, name: str) -> Any:
    """A user's field from a record (`User`), a row (`sqlite3.Row`) or a mapping."""
    if isinstance(user, msgspec.Struct):
        return getattr(user, name)
    return user[name]


def user_part(event: str, user: Any) -> dict[str, Any]:
    """What the body says about the person: for `user.deleted` only the id (they are gone)."""
    if event == "user.deleted":
        return {"id": int(_field(user, "id"))}
    return {
        "id": int(_field(user, "id")),
        "email": str(_field(user, "email")),
        "level": str(_field(user, "level")),
        "status": str(_field(user, "status")),
    }


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def _iso(db_time: str) -> str:
    """`2026-11-25T17:30:00.123Z`: the database's form, checked, in ISO 8601 with milliseconds."""
    return from_db(db_time).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body(
    event: str,
    user: Any,
    *,
    event_id: str,
    occurred_at: str,
    previous: Mapping[str, Any] | None = None,
) -> str:
    """The JSON body exactly as it is stored, signed and sent."""
    data: dict[str, Any] = {
        "id": event_id,
        "type": event,
        "occurred_at": _iso(occurred_at),
        "user": user_part(event, user),
    }
    if previous:
        data["previous"] = dict(previous)
    return msgspec.json.encode(data).decode()


def _row(
    settings: Settings, event: str, user: Any, previous: Mapping[str, Any] | None, at: str
) -> tuple[str, str, str, str, str, str]:
    event_id = new_event_id()
    payload = body(event, user, event_id=event_id, occurred_at=at, previous=previous)
    return (settings.webhook_url, event, payload, at, event_id, at)


async def emit(
    tx: Transaction,
    settings: Settings,
    event: Event,
    user: Any,
    *,
    previous: Mapping[str, Any] | None = None,
) -> None:
    """Queue one webhook for `event` about `user` (a User, a users row or a mapping with id,
    email, level and status) inside the caller's transaction. No-op without USHER_WEBHOOK_URL.

    `previous` adds what changed from (e.g. `{"level": "viewer"}` for `user.level_changed`).
    """
    if not settings.webhook_url:
        return
    tx.defer(_INSERT, _row(settings, event, user, previous, db_now()))  # no round trip of its own
    tx.touch("outbox")


async def emit_many(tx: Transaction, settings: Settings, event: Event, users: Iterable[Any]) -> int:
    """`emit` for a batch (bulk creation, multi-approval) in one `executemany`; returns how many."""
    if not settings.webhook_url:
        return 0
    at = db_now()
    rows = [_row(settings, event, user, None, at) for user in users]
    if rows:
        await tx.executemany(_INSERT, rows)
        tx.touch("outbox")
    return len(rows)


def signature(secret: str, raw_body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the raw body with the shared secret (the header value)."""
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_valid(secret: str, raw_body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(signature(secret, raw_body), header.strip())


def headers(settings: Settings, raw_body: bytes, *, event_id: str, event: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Usher-Webhook/1",
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event,
        SIGNATURE_HEADER: signature(settings.webhook_secret, raw_body),
    }
