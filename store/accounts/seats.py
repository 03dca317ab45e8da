"""`USHER_SEAT_LIMIT`: how many active accounts the organisation pays for.

Once that many accounts are active, a new link sign-up that would have become active waits as
`pending` instead (like GitLab's user cap): an admin approves it when a seat is free. Admins
adding or approving people are not stopped - the limit holds back only self-service sign-ups.
"""

from __future__ import annotations

from typing import Literal

from store.database.engine import Transaction
from store.service.settings import Settings

__all__ = ["admitted_status", "seat_limit_reached"]


def seat_limit_reached(active: int, settings: Settings) -> bool:
    """Whether `active` accounts fill every seat (never, without a limit)."""
    return settings.seat_limit > 0 and active >= settings.seat_limit


async def admitted_status(
    tx: Transaction, settings: Settings, *, auto_accept: bool
) -> Literal["active", "pending"]:
    """The status a sign-up gets once its address is confirmed (or at once, without
    confirmation): the link's choice, unless the seats are full. Read inside the sign-up's
    write transaction, so two sign-ups racing for the last seat get one seat between them."""
    if not auto_accept:
        return "pending"
    if settings.seat_limit > 0:
        active = await tx.fetchone("SELECT count(*) AS n FROM users WHERE status = 'active'")
        if seat_limit_reached(int(active["n"]) if active else 0, settings):
            return "pending"
    return "active"
