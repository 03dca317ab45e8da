"""Guesses at a link's password, counted in the database so the limit holds across processes
(two `usher serve` on one file share it) and restarts.

On one link, in any 15 minutes: at most 5 wrong guesses from one browser (its CSRF cookie) and
5 for one address typed in the form, so a person who mistypes is slowed down on their own; and
at most 50 from one client address, enough for a room behind one NAT (30 people each mistyping
once or twice) but a wall for a script that drops its cookies and varies the address.

Each guess is reserved (written as a failure) in one `BEGIN IMMEDIATE` transaction BEFORE its
password is verified, and only a verified password takes its reservation back: twenty
concurrent guesses cannot all be checked, the sixth reservation already sees five. Keys are
stored as digests (no cookie or typed address in clear) and kept no longer than the window.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import msgspec

from store.accounts.throttle import client_key, throttle_key
from store.database.core import Store
from store.database.engine import Transaction
from store.domain.clock import from_db, now, to_db, wait_words
from store.onboarding.links import link_password_hash

__all__ = [
    "BROWSER_TRIES",
    "CLIENT_TRIES",
    "EMAIL_TRIES",
    "WINDOW",
    "Guesser",
    "LinkGuessesExhausted",
    "check_link_password",
    "wait_words",
]

BROWSER_TRIES = 5
EMAIL_TRIES = 5
CLIENT_TRIES = 50
WINDOW = timedelta(minutes=15)
_LIMITS = (("browser", BROWSER_TRIES), ("email", EMAIL_TRIES), ("client", CLIENT_TRIES))
_NTH_NEWEST = {
    "browser": "SELECT at FROM link_password_attempts WHERE link_id = ? AND browser = ?"
    " ORDER BY at DESC LIMIT 1 OFFSET ?",
    "email": "SELECT at FROM link_password_attempts WHERE link_id = ? AND email = ?"
    " ORDER BY at DESC LIMIT 1 OFFSET ?",
    "client": "SELECT at FROM link_password_attempts WHERE link_id = ? AND client = ?"
    " ORDER BY at DESC LIMIT 1 OFFSET ?",
}
"""Per key column, the moment of its n-th newest counted guess (written out: no SQL is built)."""


class Guesser(msgspec.Struct, frozen=True, kw_only=True):
    """Who is guessing: the browser's cookie, the address typed in the form, the client's IP.
    An empty field is one key like any other (a caller that knows nothing is one guesser)."""

    browser: str = ""
    email: str = ""
    client: str = ""

    def digests(self) -> dict[str, str]:
        keys = {
            "browser": self.browser,
            "email": throttle_key(self.email),
            "client": client_key(self.client),
        }
        return {
            kind: hashlib.sha256(f"{kind}|{key}".encode()).hexdigest() for kind, key in keys.items()
        }


class LinkGuessesExhausted(Exception):
    """No guess now: too many wrong ones lately. `retry_after` is whole seconds (Retry-After)."""

    def __init__(self, retry_at: datetime) -> None:
        super().__init__("too many wrong link passwords")
        self.retry_at = retry_at

    def retry_after(self, moment: datetime | None = None) -> int:
        return max(1, int((self.retry_at - (moment or now())).total_seconds() + 0.999))


async def _free_at(tx: Transaction, link_id: int, kind: str, digest: str, tries: int) -> str | None:
    """When the `kind` key may guess again (as stored text), or None when it may guess now: the
    moment its oldest counted guess that keeps it at `tries` leaves the window."""
    row = await tx.fetchone(_NTH_NEWEST[kind], (link_id, digest, tries - 1))
    return None if row is None else str(row[0])


async def _reserve(store: Store, link_id: int, digests: dict[str, str]) -> int:
    """Count one guess (as a failure) or raise LinkGuessesExhausted without counting it."""
    async with store.write() as tx:
        moment = now()  # inside the lock: a guess that waited for it is counted when it ran
        await tx.execute(
            "DELETE FROM link_password_attempts WHERE at <= ?", (to_db(moment - WINDOW),)
        )
        latest: datetime | None = None
        for kind, tries in _LIMITS:
            counted_at = await _free_at(tx, link_id, kind, digests[kind], tries)
            if counted_at is not None:
                free = from_db(counted_at) + WINDOW
                latest = free if latest is None else max(latest, free)
        if latest is not None:
            raise LinkGuessesExhausted(latest)
        return await tx.execute(
            """INSERT INTO link_password_attempts (link_id, browser, email, client, at)
               VALUES (?, ?, ?, ?, ?)""",
            (link_id, digests["browser"], digests["email"], digests["client"], to_db(moment)),
        )


async def check_link_password(store: Store, link_id: int, password: str, guesser: Guesser) -> bool:
    """Whether `password` is link `link_id`'s, within the limits (LinkGuessesExhausted when
    over them: nothing is verified then). A right password takes its reservation back and
    forgets that browser's wrong guesses on this link; a wrong one stays counted."""
    digests = guesser.digests()
    reservation = await _reserve(store, link_id, digests)
    stored = await link_password_hash(store, link_id)
    matches = stored is not None and await store.hasher.verify(stored, password)
    if matches:
        async with store.write() as tx:
            await tx.execute(
                "DELETE FROM link_password_attempts WHERE id = ? OR (link_id = ? AND browser = ?)",
                (reservation, link_id, digests["browser"]),
            )
    return matches
