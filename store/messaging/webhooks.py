"""Webhooks: the organisation's other systems follow account events without reading our tables.

Every account event is written as an outbox row (`channel = 'webhook'`) in the SAME transaction
as the change, so a rolled-back change sends nothing and a committed one is delivered at least
once, with retries, by `store.messaging.webhook_delivery`. The row holds the exact JSON body, which
never changes once written (an erasure cancels undelivered events instead of rewriting them), and
its event id, which stays the same across retries so receivers can deduplicate. Each body carries
`occurred_at` and the person's `sequence` (1, 2, 3… per user id), so receivers can apply events
in order whatever order retries deliver them in.

Requests follow Standard Webhooks (standardwebhooks.com): `webhook-id` (the event id),
`webhook-timestamp` (the attempt's Unix time) and `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">` keyed with `USHER_WEBHOOK_SECRET` (`whsec_<base64>`, never stored), so
any Standard Webhooks library verifies them and rejects replays.

Call sites write one line: `await emit(tx, store.settings, "user.created", user)`; it does
nothing when `USHER_WEBHOOK_URL` is unset.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import msgspec

from store.database.engine import Transaction
from store.domain.clock import db_now, from_db
from store.messaging.webhook_secret import secret_key
from store.service.settings import Settings

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

EVENT_ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
EVENT_TYPE_HEADER = "X-Usher-Event"
CHANNEL = "webhook"

_NEXT = """INSERT INTO webhook_sequences (user_id, last) VALUES (?, 1)
           ON CONFLICT (user_id) DO UPDATE SET last = last + 1"""
_INSERT = """INSERT INTO outbox (channel, recipient, recipient_name, kind, payload, status,
                                 next_attempt_at, message_id, created_at)
             VALUES ('webhook', ?, '', ?,
                     json_set(?, '$.sequence',
                              (SELECT last FROM webhook_sequences WHERE user_id = ?)),
                     'queued', ?, ?, ?)"""
"""The body gets the person's next `sequence` (`_NEXT` just counted it) as it is written."""


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
) -> tuple[str, str, str, int, str, str, str]:
    event_id = new_event_id()
    payload = body(event, user, event_id=event_id, occurred_at=at, previous=previous)
    return (settings.webhook_url, event, payload, int(_field(user, "id")), at, event_id, at)


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
    row = _row(settings, event, user, previous, db_now())
    tx.defer(_NEXT, (row[3],))  # no round trips of their own
    tx.defer(_INSERT, row)
    tx.touch("outbox")


async def emit_many(tx: Transaction, settings: Settings, event: Event, users: Iterable[Any]) -> int:
    """`emit` for a batch of different people (bulk creation, multi-approval) in one
    `executemany`; returns how many."""
    if not settings.webhook_url:
        return 0
    at = db_now()
    rows = [_row(settings, event, user, None, at) for user in users]
    if rows:
        await tx.executemany(_NEXT, [(row[3],) for row in rows])
        await tx.executemany(_INSERT, rows)
        tx.touch("outbox")
    return len(rows)


def signature(key: bytes, event_id: str, timestamp: int, raw_body: bytes) -> str:
    """`v1,<base64>`: Standard Webhooks' HMAC-SHA256 of `<id>.<timestamp>.<body>`."""
    signed = f"{event_id}.{timestamp}.".encode() + raw_body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(
    settings: Settings, raw_body: bytes, *, event_id: str, event: str, timestamp: int
) -> dict[str, str]:
    """Standard Webhooks headers (`webhook-id`, `-timestamp`, `-signature`), signed afresh on
    each attempt (the timestamp is the attempt's; the id and body never change)."""
    key = secret_key(settings.webhook_secret)
    return {
        "Content-Type": "application/json",
        "User-Agent": "Usher-Webhook/1",
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(key, event_id, timestamp, raw_body),
        EVENT_TYPE_HEADER: event,
    }


def shown_url(url: str) -> str:
    """The URL for logs and screens: no user, password or query (they may hold credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
