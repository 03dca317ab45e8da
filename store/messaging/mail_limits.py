"""How many messages of one kind one address may be sent: a stranger must not be able to
flood someone's inbox by asking for resets (or by signing up with their address) in a loop,
while a real person can still ask again a couple of times.

Counted in the database, so it holds across processes. Held-back messages are counted per
kind (`held_back_counts`) and audited as `mail_held_back` (the kind, never the address); they
are not sent later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from store.accounts.audit import record
from store.accounts.throttle import throttle_key
from store.database.engine import Engine, Transaction
from store.domain.clock import from_db, now, to_db

__all__ = [
    "MAIL_LIMIT",
    "MAIL_LIMIT_WINDOW",
    "Allowance",
    "held_back_counts",
    "reserve_message",
]

MAIL_LIMIT = 3
MAIL_LIMIT_WINDOW = timedelta(hours=1)


class Allowance(msgspec.Struct, frozen=True, kw_only=True):
    """`allowed`: send it. `again_at`: when this address may next be sent this kind of message
    (None while more are allowed now)."""

    allowed: bool
    again_at: datetime | None = None


async def reserve_message(tx: Transaction, recipient: str, kind: str) -> Allowance:
    """The one rule: at most MAIL_LIMIT messages of `kind` to `recipient` per window that
    opens with the first of them. Counts the request (sent or held back) inside the caller's
    transaction; a held-back one is audited and counted under its kind.

    Callers count requests for an address whether or not it has an account, so the answer
    (and "ask again at…") says nothing about which addresses exist.
    """
    moment = now()
    key = throttle_key(recipient)
    await tx.execute(
        "DELETE FROM mail_limits WHERE window_start <= ?", (to_db(moment - MAIL_LIMIT_WINDOW),)
    )
    row = await tx.fetchone(
        "SELECT window_start, sent FROM mail_limits WHERE recipient = ? AND kind = ?",
        (key, kind),
    )
    if row is None:
        await tx.execute(
            "INSERT INTO mail_limits (recipient, kind, window_start, sent) VALUES (?, ?, ?, 1)",
            (key, kind, to_db(moment)),
        )
        return Allowance(allowed=True, again_at=None)
    window_end = from_db(str(row["window_start"])) + MAIL_LIMIT_WINDOW
    sent = int(row["sent"])
    if sent < MAIL_LIMIT:
        await tx.execute(
            "UPDATE mail_limits SET sent = sent + 1 WHERE recipient = ? AND kind = ?",
            (key, kind),
        )
        return Allowance(allowed=True, again_at=window_end if sent + 1 >= MAIL_LIMIT else None)
    await tx.execute(
        "UPDATE mail_limits SET held = held + 1 WHERE recipient = ? AND kind = ?", (key, kind)
    )
    await tx.execute(
        """INSERT INTO mail_held_back (kind, count) VALUES (?, 1)
           ON CONFLICT (kind) DO UPDATE SET count = count + 1""",
        (kind,),
    )
    await record(tx, "usher", "mail_held_back", "", {"kind": kind, "limit": MAIL_LIMIT})
    return Allowance(allowed=False, again_at=window_end)


async def held_back_counts(engine: Engine) -> dict[str, int]:
    """Messages held back by the limit since the database was made, per kind."""
    rows = await engine.fetchall("SELECT kind, count FROM mail_held_back ORDER BY kind")
    return {str(row["kind"]): int(row["count"]) for row in rows}
