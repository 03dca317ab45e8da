"""The way back from a lost or mistyped address, for the browser that signed up (its signup
cookie, store.onboarding.confirmation): send the confirmation again, or move the signup to another
address.

Neither tells anyone which addresses have accounts: a signup with an address that had an account
already gets a proof too (one that matches nothing), and every request is counted against the
address the proof names, whatever happens next, so the answers and the waits are the same.
"""

from __future__ import annotations

import msgspec

from store.accounts.audit import record
from store.database.core import Store
from store.database.engine import Row, Transaction
from store.domain.addresses import address_key
from store.domain.clock import db_now
from store.domain.forms import outside_domains
from store.messaging.mail_limits import Allowance, reserve_message
from store.messaging.webhooks import emit
from store.onboarding.confirmation import proof_matches, proof_user
from store.onboarding.signup import (
    FormRefused,
    check_email_address,
    queue_confirmation,
    tell_account_exists,
)

__all__ = ["change_signup_address", "resend_confirmation"]

_SIGNUP = """
    SELECT u.id, u.email, u.first_name, u.last_name, u.level, u.status, u.created_at,
           u.password_hash, u.link_id, l.auto_accept, l.domains
    FROM users u LEFT JOIN invite_links l ON l.id = u.link_id WHERE u.id = ?
"""


async def _proven(tx: Transaction, secret: str, proof: str) -> tuple[Row | None, bool]:
    """(the account the proof names, whether it is that account's unconfirmed signup)."""
    user_id = proof_user(proof)
    row = None if user_id is None else await tx.fetchone(_SIGNUP, (user_id,))
    if row is None:
        return None, False
    matches = proof_matches(
        secret, proof, int(row["id"]), str(row["created_at"]), row["password_hash"]
    )
    return row, matches and row["status"] == "unconfirmed"


async def _send(tx: Transaction, store: Store, row: Row, email: str) -> None:
    await queue_confirmation(
        tx,
        store.settings,
        user_id=int(row["id"]),
        email=email,
        first_name=str(row["first_name"]),
        last_name=str(row["last_name"]),
        level=str(row["level"]),
        needs_approval=not bool(row["auto_accept"]),
    )


async def resend_confirmation(store: Store, proof: str, *, actor: str) -> Allowance:
    """ "Didn't get it? Send it again": a fresh confirmation link to the signup's address,
    at most MAIL_LIMIT an hour (store.messaging.mail_limits). The Allowance is the same whether or
    not a message went out."""
    secret = await store.secret_key()
    async with store.write() as tx:
        row, unconfirmed = await _proven(tx, secret, proof)
        if row is None:
            return Allowance(allowed=False)
        allowance = await reserve_message(tx, str(row["email"]), "confirm_email")
        if allowance.allowed and unconfirmed:
            await _send(tx, store, row, str(row["email"]))
            await record(tx, actor, "confirmation_resent", str(row["email"]))
    return allowance


async def change_signup_address(store: Store, proof: str, new_address: str, *, actor: str) -> str:
    """ "Use another address": the unconfirmed signup moves to `new_address` (normalised, and
    returned) and a confirmation goes there; links sent to the old address stop working, so
    whoever owns the mistyped address cannot confirm it. No second use of the link is taken.

    When another account has `new_address` already, the mistaken signup is removed (its link
    use given back, so a `--max-uses 1` link works again) and that address's owner is told, as
    a new signup with it would be. FormRefused: the address is malformed, outside the link's
    domains, or changed too often (3 an hour)."""
    try:
        email = check_email_address(new_address)
    except ValueError as error:
        raise FormRefused({"email": str(error)}) from None
    secret = await store.secret_key()
    async with store.write() as tx:
        row, unconfirmed = await _proven(tx, secret, proof)
        if row is None:
            raise FormRefused({"email": "Open your invitation link again to sign up"})
        domains = tuple(msgspec.json.decode(row["domains"] or "[]", type=list[str]))
        outside = outside_domains(domains, email)
        if outside:
            raise FormRefused({"email": outside})
        changes = await reserve_message(tx, f"signup-{row['id']}", "address_change")
        if not changes.allowed:
            raise FormRefused(
                {"email": "This signup's address has changed too often: try again in an hour"}
            )
        allowance = await reserve_message(tx, email, "confirm_email")
        if not unconfirmed or not allowance.allowed:
            return email
        await tx.execute(
            """UPDATE action_tokens SET used_at = ?
               WHERE user_id = ? AND purpose = 'confirm_email' AND used_at IS NULL""",
            (db_now(), row["id"]),
        )
        taken = await tx.fetchone(
            "SELECT id, email, first_name, last_name FROM users WHERE email_key = ? AND id != ?",
            (address_key(email), row["id"]),
        )
        if taken is not None:
            await _give_way(tx, store, row, taken, actor=actor)
            return email
        await tx.execute(
            "UPDATE users SET email = ?, email_key = ?, updated_at = ? WHERE id = ?",
            (email, address_key(email), db_now(), row["id"]),
        )
        await _send(tx, store, row, email)
        await record(tx, actor, "signup_address_changed", email, {"from": str(row["email"])})
        tx.touch("users", "action_tokens")
    return email


async def _give_way(tx: Transaction, store: Store, row: Row, taken: Row, *, actor: str) -> None:
    """The new address has an account: drop the mistaken signup, give its link use back, and
    tell the owner (an `account_exists` email, as a fresh signup would send)."""
    await tx.execute("DELETE FROM users WHERE id = ? AND status = 'unconfirmed'", (row["id"],))
    if row["link_id"] is not None:
        await tx.execute(
            "UPDATE invite_links SET uses = max(uses - 1, 0) WHERE id = ?", (row["link_id"],)
        )
    await tell_account_exists(
        tx,
        store.settings,
        str(taken["email"]),
        str(taken["first_name"]),
        str(taken["last_name"]),
    )
    await record(tx, actor, "signup_withdrawn", str(row["email"]), {"link_id": row["link_id"]})
    await emit(tx, store.settings, "user.deleted", row)
    tx.touch("users", "invite_links", "action_tokens")
