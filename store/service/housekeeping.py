"""Housekeeping: data that must not pile up for years goes away by itself.

Run on a schedule by the mail delivery worker's process and on demand by `usher housekeeping`.
Every run that removes something leaves one audit entry with the counts (never the data).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import msgspec

from store.accounts.audit import record
from store.database.core import Store
from store.database.schedule import runs_scheduled_work
from store.domain.clock import now as clock_now
from store.domain.clock import to_db
from store.onboarding.signup import UNCONFIRMED_VALID, expire_unconfirmed_in

UNCONFIRMED_TTL = UNCONFIRMED_VALID
SENT_MAIL_TTL = timedelta(days=90)


class HousekeepingReport(msgspec.Struct, frozen=True, kw_only=True):
    tokens_deleted: int = 0
    unconfirmed_removed: int = 0
    link_uses_returned: int = 0
    invitations_expired: int = 0
    sent_mail_purged: int = 0

    @property
    def total(self) -> int:
        return (
            self.tokens_deleted
            + self.unconfirmed_removed
            + self.invitations_expired
            + self.sent_mail_purged
        )

    def lines(self) -> list[str]:
        return [
            f"{self.tokens_deleted} expired or used tokens deleted",
            f"{self.unconfirmed_removed} unconfirmed accounts older than 24 h removed "
            f"({self.link_uses_returned} link uses given back)",
            f"{self.invitations_expired} invitations marked expired",
            f"{self.sent_mail_purged} sent messages purged",
        ]


USED_CONFIRMATION_KEPT = timedelta(days=30)
"""How long a used confirmation link still answers with the account's state."""


async def run_housekeeping(
    store: Store,
    *,
    actor: str = "housekeeping",
    now: datetime | None = None,
    sent_mail_ttl: timedelta = SENT_MAIL_TTL,
) -> HousekeepingReport:
    """One pass in one transaction. `now` lets tests (and operators) move the clock."""
    moment = now or clock_now()
    at = to_db(moment)
    sent_before = to_db(moment - sent_mail_ttl)
    async with store.write("users", "invite_links", "invitations", "outbox") as tx:
        # A used confirmation link is kept a while, so a late click (or one after a mail
        # scanner's) says what is true of the account now (store.onboarding.confirmation).
        tokens = await tx.execute(
            """DELETE FROM action_tokens
               WHERE (used_at IS NULL AND expires_at <= ?)
                  OR (used_at IS NOT NULL AND purpose != 'confirm_email')
                  OR (used_at IS NOT NULL AND used_at <= ?)""",
            (at, to_db(moment - USED_CONFIRMATION_KEPT)),
        )
        expired_accounts = await expire_unconfirmed_in(tx, store.settings, moment=moment)
        expired = await tx.execute(
            "UPDATE invitations SET status = 'expired' "
            "WHERE status = 'pending' AND expires_at <= ?",
            (at,),
        )
        purged = await tx.execute(
            "DELETE FROM outbox WHERE status = 'sent' AND coalesce(sent_at, created_at) <= ?",
            (sent_before,),
        )
        report = HousekeepingReport(
            tokens_deleted=tokens,
            unconfirmed_removed=expired_accounts.removed,
            link_uses_returned=expired_accounts.link_uses_returned,
            invitations_expired=expired,
            sent_mail_purged=purged,
        )
        if report.total:
            await record(tx, actor, "housekeeping", "", msgspec.structs.asdict(report))
    return report


HOUSEKEEPING_INTERVAL = 3600.0
log = logging.getLogger("usher.housekeeping")


async def housekeeping_loop(store: Store, interval: float = HOUSEKEEPING_INTERVAL) -> None:
    """Run housekeeping now and then every `interval` seconds, for the process's lifetime.

    Both the console and `usher serve` run it; two processes doing it at once is harmless
    (each pass is one transaction, and a second pass finds nothing left)."""
    while True:
        if not await runs_scheduled_work(store):  # another server runs it (PostgreSQL)
            await asyncio.sleep(interval)
            continue
        try:
            report = await run_housekeeping(store)
        except Exception:
            log.exception("housekeeping failed; will try again")
        else:
            if report.total:
                log.info("housekeeping: %s", "; ".join(report.lines()))
        await asyncio.sleep(interval)
