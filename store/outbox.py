"""The outbox: every email Usher sends is a row written in the same transaction as the change
that causes it, and delivered later by the delivery worker (or kept for the admin without SMTP).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from typing import Any

import msgspec

from .clock import db_now
from .engine import Transaction
from .settings import Settings

SECRET_KEYS_FIELD = "_secret_keys"  # noqa: S105 - a field name, not a secret
"""Payload field listing which values hold a raw token (scrubbed once sent, hidden in views)."""


def new_message_id(settings: Settings) -> str:
    domain = settings.mail_from.rpartition("@")[2] or "usher.invalid"
    return f"<{secrets.token_hex(16)}@{domain}>"


async def enqueue(
    tx: Transaction,
    settings: Settings,
    *,
    to: str,
    kind: str,
    values: Mapping[str, Any],
    name: str = "",
    secret_keys: Collection[str] = (),
) -> int:
    """Queue one message inside the caller's transaction; return its outbox id.

    `kind` names the templates (`store/emails/templates/<kind>.*`); `values` fill them at send
    time, together with `org`, `public_url`, `recipient` and `recipient_name`. Keys named in
    `secret_keys` hold raw tokens (or URLs containing them): scrubbed after sending.
    Without SMTP the message is `kept` for the admin to pass on by hand.
    """
    payload = dict(values)
    if secret_keys:
        payload[SECRET_KEYS_FIELD] = sorted(secret_keys)
    status = "queued" if settings.smtp_configured else "kept"
    now = db_now()
    outbox_id = await tx.execute(
        """INSERT INTO outbox (recipient, recipient_name, kind, payload, status,
                               next_attempt_at, message_id, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            to,
            name,
            kind,
            msgspec.json.encode(payload).decode(),
            status,
            now,
            new_message_id(settings),
            now,
        ),
    )
    tx.touch("outbox")
    return outbox_id
