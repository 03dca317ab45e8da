"""Limits on what one client may do in a minute, counted in the database so they hold across
processes (every `usher serve` behind one balancer, a console's embedded server beside them)
and across restarts. Two kinds today: POSTs to the signup server per client (USHER_RATE_LIMIT)
and refused SSH keys per peer address.

A sliding window, exactly: each event is a row, and a client is over its limit while its
`limit`-th newest event is younger than the window, so the wait given (Retry-After) is the
moment that event leaves it. The check and the count run in one write transaction, so two
processes admitting at once share one count; a client already over the limit is refused by a
read alone (hammering costs no write), and one that may go ahead costs one conditional insert.
Clients are stored as digests (no address in clear) and their rows are dropped once older than
the window.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from typing import Literal

from store.database.engine import Engine
from store.domain.clock import from_db, now, to_db

__all__ = ["WINDOWS", "Kind", "admit", "count", "refused_for"]

Kind = Literal["post", "ssh-key"]
WINDOWS: dict[Kind, timedelta] = {"post": timedelta(minutes=1), "ssh-key": timedelta(minutes=1)}
"""How far back each kind is counted: USHER_RATE_LIMIT is POSTs per client per minute; the
SSH server refuses a peer after too many unknown keys in a minute."""

_NTH_NEWEST = (
    "SELECT at FROM client_events WHERE kind = ? AND client = ? ORDER BY at DESC LIMIT 1 OFFSET ?"
)
_COUNT = "INSERT INTO client_events (kind, client, at) VALUES (?, ?, ?)"
_COUNT_UNDER_LIMIT = """INSERT INTO client_events (kind, client, at)
SELECT ?, ?, ?
WHERE (SELECT count(*) FROM client_events WHERE kind = ? AND client = ? AND at > ?) < ?"""
_FORGET = "DELETE FROM client_events WHERE kind = ? AND at <= ?"


def _digest(kind: Kind, client: str) -> str:
    return hashlib.sha256(f"{kind}|{client}".encode()).hexdigest()


def _wait(nth_newest: str | None, kind: Kind, moment: datetime) -> int:
    """Whole seconds until the `limit`-th newest event leaves the window (0: not in it)."""
    if nth_newest is None:
        return 0
    leaves = from_db(nth_newest) + WINDOWS[kind]
    if leaves <= moment:
        return 0
    return max(1, math.ceil((leaves - moment).total_seconds()))


async def refused_for(engine: Engine, kind: Kind, client: str, limit: int) -> int:
    """Seconds `client` must wait before its next `kind` event (0: it may go ahead now)."""
    row = await engine.fetchone(_NTH_NEWEST, (kind, _digest(kind, client), limit - 1))
    return _wait(row[0] if row else None, kind, now())


async def admit(engine: Engine, kind: Kind, client: str, limit: int) -> int:
    """Count one `kind` event of `client` if fewer than `limit` are in the window; return 0
    then, else the seconds to wait (for Retry-After) without counting it."""
    wait = await refused_for(engine, kind, client, limit)
    if wait:
        return wait
    digest = _digest(kind, client)
    async with engine.write() as tx:
        moment = now()
        since = to_db(moment - WINDOWS[kind])
        counted = await tx.execute(
            _COUNT_UNDER_LIMIT, (kind, digest, to_db(moment), kind, digest, since, limit)
        )
        tx.defer(_FORGET, (kind, since))
    if counted:
        return 0
    return await refused_for(engine, kind, client, limit) or 1  # another process came first


async def count(engine: Engine, kind: Kind, client: str) -> None:
    """Count one `kind` event of `client` whatever the limit (a refused SSH key)."""
    moment = now()
    async with engine.write() as tx:
        await tx.execute(_COUNT, (kind, _digest(kind, client), to_db(moment)))
        tx.defer(_FORGET, (kind, to_db(moment - WINDOWS[kind])))
