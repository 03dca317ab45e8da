"""What a confirmation link is now, read without changing anything, and the proof that a
confirmation comes from the browser that signed up.

Why reading is its own step: mail scanners (Safe Links, Mimecast) open every link in an email
before the person does. Opening `/confirm/{token}` therefore only *shows* what the link would
do; the person's "Confirm my address" (a POST) is what confirms. A link already used says what
is true of its account now, not "this link doesn't work".
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

import msgspec

from store.database.core import Store
from store.domain.clock import db_now
from store.domain.records import UserStatus
from store.domain.tokens import token_digest

__all__ = ["ConfirmLink", "browser_proof", "confirm_link_state", "proof_matches", "proof_user"]


class ConfirmLink(msgspec.Struct, frozen=True, kw_only=True):
    """`open`: the button confirms; `done`: confirmed already (or decided since), `status` says
    what the account is now; `expired`: too late, the person signs up again."""

    state: Literal["open", "done", "expired"]
    status: UserStatus
    email: str
    language: str | None = None
    """The account's language (its signup page's): the confirmation page is written in it."""


async def confirm_link_state(store: Store, token: str) -> ConfirmLink | None:
    """The confirmation link `token` as it is now, or None when it leads nowhere. Reads only."""
    row = await store.engine.fetchone(
        """SELECT t.used_at, t.expires_at, u.email, u.status, u.language
           FROM action_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = ? AND t.purpose = 'confirm_email'""",
        (token_digest(token),),
    )
    if row is None:
        return None
    if row["status"] != "unconfirmed":
        state: Literal["open", "done", "expired"] = "done"
    elif row["used_at"] is not None or str(row["expires_at"]) <= db_now():
        state = "expired"
    else:
        state = "open"
    return ConfirmLink(
        state=state, status=row["status"], email=str(row["email"]), language=row["language"]
    )


def browser_proof(secret: str, user_id: int, signed_up_at: str, password_hash: str | None) -> str:
    """The signup cookie's value: HMAC of the account, the moment it signed up and the password
    typed, so it names that one signup (ids are never reused), dies when a later signup with the
    same address types another password, and nobody can make one without the database's
    secret."""
    text = f"signup-browser|{user_id}|{signed_up_at}|{password_hash or ''}"
    mac = hmac.new(secret.encode(), text.encode(), hashlib.sha256)
    return f"{user_id}.{mac.hexdigest()}"


def proof_user(proof: str) -> int | None:
    """The account a proof claims to be for (checked by `proof_matches`), or None."""
    head, dot, _ = proof.partition(".")
    return int(head) if dot and head.isdigit() and len(head) <= 18 else None


def proof_matches(
    secret: str, proof: str, user_id: int, signed_up_at: str, password_hash: str | None
) -> bool:
    """True when `proof` (from the cookie) was made for this account's signup."""
    if not proof or not password_hash:
        return False
    expected = browser_proof(secret, user_id, signed_up_at, password_hash)
    return hmac.compare_digest(proof.encode(), expected.encode())
