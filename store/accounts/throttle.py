"""Throttling password guesses per address, in the database, so it holds across processes and
restarts (the per-client POST limit alone lets a guesser spread over many addresses).

NIST SP 800-63B §5.2.2: at most 100 consecutive failed attempts on one account, with an
increasing wait in between. Here: 5 failures are free, then each further attempt must wait
30 seconds, 1, 2, 4, 8 minutes, then 15 minutes each; after 100 consecutive failures (about a
day of guessing) only setting a new password by an emailed link (which clears the count) opens
the address again.

No enumeration: the count is kept for the address *as typed* (normalised), whether or not an
account has it, so a stranger sees the same waits for every address. An attempt is reserved
(counted) before the password is checked, so concurrent guesses cannot slip past the limit.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from datetime import datetime, timedelta

import msgspec

from store.database.engine import Transaction
from store.domain.clock import from_db, now, to_db, wait_words

__all__ = [
    "FREE_FAILURES",
    "MAX_FAILURES",
    "MAX_WAIT",
    "Throttled",
    "clear_failures",
    "client_key",
    "reserve_sign_in",
    "throttle_key",
    "wait_after",
]

FREE_FAILURES = 5
MAX_FAILURES = 100
FIRST_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=24)
"""A count below MAX_FAILURES with no failure for this long starts again from zero."""
_MAX_KEY = 320


class Throttled(Exception):
    """No attempt now: `retry_at` says when (None: only a new password set by link opens it)."""

    def __init__(self, retry_at: datetime | None) -> None:
        super().__init__("too many failed sign-ins")
        self.retry_at = retry_at

    def wait_words(self, moment: datetime | None = None) -> str:
        """`1 minute`, `12 minutes`, `40 seconds`: how long, honestly, for the page."""
        if self.retry_at is None:
            return ""
        return wait_words(self.retry_after_seconds(moment))

    def retry_after_seconds(self, moment: datetime | None = None) -> int:
        if self.retry_at is None:
            return int(FORGET_AFTER.total_seconds())
        return max(1, int((self.retry_at - (moment or now())).total_seconds() + 0.999))


def throttle_key(email: str) -> str:
    """The address as counted: NFKC, case-folded, trimmed (bounded, so junk stays small)."""
    return unicodedata.normalize("NFKC", email.strip()).casefold()[:_MAX_KEY]


def wait_after(failures: int) -> timedelta:
    """The wait before the next attempt once `failures` consecutive failures are counted."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    doublings = min(failures - FREE_FAILURES, 20)  # 2**20 times the first wait: past the cap
    return min(FIRST_WAIT * (1 << doublings), MAX_WAIT)


class _Count(msgspec.Struct, frozen=True):
    failures: int
    wait_until: str | None


async def reserve_sign_in(tx: Transaction, email: str) -> None:
    """Count one attempt at `email` before its password is checked (inside the caller's
    `BEGIN IMMEDIATE` transaction), or raise Throttled without counting it.

    A sign-in that then succeeds calls `clear_failures`; a failed one is already counted.
    Stale counts of other addresses are dropped on the way, so the table never piles up.
    """
    moment = now()
    at = to_db(moment)
    await tx.execute(
        "DELETE FROM sign_in_failures WHERE last_failed_at <= ? AND failures < ?",
        (to_db(moment - FORGET_AFTER), MAX_FAILURES),
    )
    key = throttle_key(email)
    row = await tx.fetchone(
        "SELECT failures, wait_until FROM sign_in_failures WHERE address = ?", (key,)
    )
    count = _Count(0, None) if row is None else _Count(int(row[0]), row[1])
    if count.failures >= MAX_FAILURES:
        raise Throttled(None)
    if count.wait_until is not None and count.wait_until > at:
        raise Throttled(from_db(count.wait_until))
    failures = count.failures + 1
    wait = wait_after(failures)
    await tx.execute(
        """INSERT INTO sign_in_failures (address, failures, last_failed_at, wait_until)
           VALUES (?, ?, ?, ?)
           ON CONFLICT (address) DO UPDATE SET failures = excluded.failures,
               last_failed_at = excluded.last_failed_at, wait_until = excluded.wait_until""",
        (key, failures, at, to_db(moment + wait) if wait else None),
    )


async def clear_failures(tx: Transaction, email: str) -> None:
    """The right password (or a new one set by link): the count starts again from zero."""
    await tx.execute("DELETE FROM sign_in_failures WHERE address = ?", (throttle_key(email),))


def client_key(address: str) -> str:
    """The key a client is rate-limited under: its IPv4 address, or its IPv6 /64 (one
    subscriber usually holds a whole /64, so counting its addresses one by one counts nothing).
    Anything that is not an address is its own key."""
    try:
        parsed = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
