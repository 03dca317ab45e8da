"""The batch form of `store.outbox.enqueue`: thousands of messages in one `executemany`.

Row by row, 10,000 inserts hold the write lock for seconds (one thread round-trip each); so the
rows are built before the transaction (`outbox_row`, no I/O) and written in one statement.
Same row shape and meaning as `enqueue`: kept without SMTP, secrets named in the payload.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import msgspec

from .clock import db_now
from .engine import Transaction
from .outbox import SECRET_KEYS_FIELD, new_message_id, with_language
from .settings import Settings

OutboxRow = tuple[str, str, str, str, str, str, str, str]

_INSERT = """INSERT INTO outbox (recipient, recipient_name, kind, payload, status,
                                 next_attempt_at, message_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""


def outbox_row(
    settings: Settings,
    *,
    to: str,
    kind: str,
    values: Mapping[str, Any],
    name: str = "",
    secret_keys: Collection[str] = (),
    now: str | None = None,
    language: str | None = None,
) -> OutboxRow:
    """One message ready to insert (see `enqueue` for the meaning of each argument; a batch
    names its recipients' `language` itself: it is the one it stores with their accounts)."""
    payload = with_language(values, language)
    if secret_keys:
        payload[SECRET_KEYS_FIELD] = sorted(secret_keys)
    status = "queued" if settings.smtp_configured else "kept"
    at = now or db_now()
    return (
        to,
        name,
        kind,
        msgspec.json.encode(payload).decode(),
        status,
        at,
        new_message_id(settings),
        at,
    )


async def enqueue_rows(tx: Transaction, rows: Iterable[OutboxRow]) -> int:
    """Insert prepared rows inside the caller's transaction; returns how many."""
    batch = list(rows)
    if batch:
        await tx.executemany(_INSERT, batch)
        tx.touch("outbox")
    return len(batch)
