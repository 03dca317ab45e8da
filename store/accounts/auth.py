"""Signing in, sessions, and passwords afterwards: change, forgotten, set by an emailed link.

The rules that keep it correct:
- Nothing tells a stranger which addresses have accounts: sign-in does the same hasher work
  for unknown addresses; a reset request answers the same whatever the address.
- Sign-in is throttled per address (store.accounts.throttle) before any hashing.
- Pending, rejected and disabled accounts are blocked: they can only see their state.
- Changing or setting a password ends every session and every outstanding set-password link.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from store.accounts.audit import record
from store.accounts.seats import admitted_status
from store.accounts.throttle import FORGET_AFTER, Throttled, clear_failures, reserve_sign_in
from store.database.core import Store
from store.database.engine import Row, Transaction
from store.domain.addresses import address_key
from store.domain.clock import db_now, from_db, lifetime_words, now, to_db
from store.domain.forms import new_password_errors, refuse
from store.domain.records import User, UserStatus, from_row
from store.domain.refusal import FormRefused
from store.domain.tokens import (
    ONE_TIME_CREDENTIAL_VALID,
    is_one_time_hash,
    new_token,
    one_time_credential_matches,
    same_secret,
    token_digest,
)
from store.messaging.mail_limits import Allowance, reserve_message
from store.messaging.webhooks import emit
from store.onboarding.confirmation import browser_proof
from store.onboarding.signup import (
    TokenUnusable,
    queue_confirmation,
    queue_set_password_email,
    queue_status_email,
    row_dict,
)

__all__ = [
    "ONE_TIME_VALID",
    "SESSION_VALID",
    "PasswordChange",
    "Session",
    "SignInFailed",
    "SignInUnconfirmed",
    "change_password",
    "request_password_reset",
    "session_user",
    "set_password_account",
    "set_password_by_token",
    "sign_in",
    "sign_out",
]

SESSION_VALID = timedelta(hours=12)
ONE_TIME_VALID = ONE_TIME_CREDENTIAL_VALID
BLOCKED: frozenset[str] = frozenset({"pending", "rejected", "disabled"})
"""Statuses that may only see their own state: no password change, no reset."""
CLOSED: frozenset[str] = frozenset({"rejected", "disabled"})
"""Statuses whose set-password links stop working. A pending account may still use the link
that confirming its address gave it (it cannot ask for a reset)."""


class SignInFailed(Exception):
    """Wrong address or password: one answer for both."""


class SignInUnconfirmed(SignInFailed):
    """The right password for an address that is not confirmed yet. No session: nobody has
    shown that the address is theirs (a stranger may have signed up with someone else's).
    A fresh confirmation went out when `sent` (rate-limited); `browser_proof` lets this
    browser keep the password when it confirms (it has just typed it)."""

    def __init__(self, *, sent: bool = False, browser_proof: str = "") -> None:
        super().__init__("unconfirmed")
        self.sent = sent
        self.browser_proof = browser_proof


class PasswordChange(msgspec.Struct, kw_only=True):
    current_password: str = ""
    password: str = ""
    password_confirm: str = ""


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in browser: `token` goes in the cookie, only its digest is stored."""

    token: str
    user: User
    expires_at: datetime


# --- signing in --------------------------------------------------------------------------------


def _credential_expired(row: Row) -> bool:
    """An initial credential stops working at `password_expires_at` (NULL = never; a password
    the person chose has none). A one-time credential without that date lasts 7 days from when
    the account was last written, to be safe."""
    expires = row["password_expires_at"]
    if expires:
        return str(expires) <= db_now()
    if is_one_time_hash(row["password_hash"]):
        return from_db(str(row["updated_at"])) + ONE_TIME_VALID <= now()
    return False


async def _password_matches(store: Store, row: Row, attempt: str) -> bool:
    """Dispatch on the stored scheme; every path does one hasher operation."""
    stored = row["password_hash"]
    if stored is None:
        await store.hasher.verify_nothing(attempt)
        return False
    if is_one_time_hash(stored):
        await store.hasher.verify_nothing(attempt)
        matches = one_time_credential_matches(stored, attempt)
    else:
        matches = await store.hasher.verify(stored, attempt)
    return matches and not _credential_expired(row)


async def sign_in(store: Store, email: str, password: str, *, actor: str) -> Session:
    """Check the password and open a session; SignInFailed (one answer) otherwise.

    Throttled (before any hashing) when the address has failed too often lately, known or not
    (store.accounts.throttle). Blocked accounts may sign in to see their state, and nothing more; an
    unconfirmed one gets no session at all (SignInUnconfirmed). An argon2 hash made with older
    parameters is replaced while the password is at hand.
    """
    address = email.strip()
    async with store.write("sign_in_failures") as tx:
        await reserve_sign_in(tx, address)
    row = (
        await store.engine.fetchone(
            "SELECT * FROM users WHERE email_key = ?", (address_key(address),)
        )
        if address
        else None
    )
    if row is None:
        await store.hasher.verify_nothing(password)
        raise SignInFailed()
    stored = row["password_hash"]
    if not await _password_matches(store, row, password):
        raise SignInFailed()
    if row["status"] == "unconfirmed":
        async with store.write("sign_in_failures") as tx:
            await clear_failures(tx, address)
            allowance = await reserve_message(tx, str(row["email"]), "confirm_email")
            if allowance.allowed:
                link = await tx.fetchone(
                    "SELECT auto_accept FROM invite_links WHERE id = ?", (row["link_id"],)
                )
                await queue_confirmation(
                    tx,
                    store.settings,
                    user_id=int(row["id"]),
                    email=str(row["email"]),
                    first_name=str(row["first_name"]),
                    last_name=str(row["last_name"]),
                    level=str(row["level"]),
                    needs_approval=link is not None and not bool(link["auto_accept"]),
                )
        proof = browser_proof(
            await store.secret_key(), int(row["id"]), str(row["created_at"]), stored
        )
        raise SignInUnconfirmed(sent=allowance.allowed, browser_proof=proof)
    new_hash = None
    if stored and not is_one_time_hash(stored) and store.hasher.needs_rehash(stored):
        new_hash = await store.hasher.hash(password)
    token = new_token()
    expires = now() + SESSION_VALID
    async with store.write("sessions") as tx:
        if new_hash is not None:
            await tx.execute(
                "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
                (new_hash, row["id"], stored),
            )
        await clear_failures(tx, address)
        fresh = await _open_session(tx, int(row["id"]), token, expires)
        if fresh is None or fresh["status"] == "unconfirmed":
            raise SignInFailed()  # erased or changed between the check and now
        await record(tx, actor, "signed_in", str(row["email"]))
    return Session(token=token, user=_account(fresh), expires_at=expires)


async def _open_session(tx: Transaction, user_id: int, token: str, expires: datetime) -> Row | None:
    """Store a new session for `user_id` (dropping expired ones of anyone) and return the
    user's row as it is now, None when it is gone. The session is stored only if the account
    is there and confirmed."""
    moment = db_now()
    await tx.execute("DELETE FROM sessions WHERE expires_at <= ?", (moment,))
    fresh = await tx.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
    if fresh is None or fresh["status"] == "unconfirmed":
        return fresh
    await tx.execute(
        """INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
           VALUES (?, ?, ?, ?)""",
        (token_digest(token), user_id, moment, to_db(expires)),
    )
    return fresh


def _account(row: Row) -> User:
    """A user record where a one-time credential counts as "must change password"."""
    user = from_row(row, User)
    if is_one_time_hash(row["password_hash"]) and not user.must_change_password:
        user = msgspec.structs.replace(user, must_change_password=True)
    return user


async def session_user(store: Store, token: str) -> User | None:
    """Who holds the session cookie `token`, if it is current."""
    if not token:
        return None
    row = await store.engine.fetchone(
        """SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.token_hash = ? AND s.expires_at > ? AND u.status != 'unconfirmed'""",
        (token_digest(token), db_now()),
    )
    return None if row is None else _account(row)


async def sign_out(store: Store, token: str) -> None:
    if token:
        async with store.write("sessions") as tx:
            await tx.execute("DELETE FROM sessions WHERE token_hash = ?", (token_digest(token),))


async def change_password(
    store: Store, user_id: int, form: PasswordChange, *, session_token: str, actor: str
) -> Session:
    """Change a signed-in active account's password. Every session of the account ends, the
    current one too: the returned Session replaces it (the caller sets its cookie), so a
    session token seen before the change is worth nothing after it. Outstanding
    set-password links stop working.

    FormRefused names the field at fault (current password wrong, new one weak or unmatched,
    too many wrong current passwords lately: the sign-in throttle counts them too).
    """
    row = await store.engine.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
    if row is None or row["status"] != "active":
        raise FormRefused({"_": "Only active accounts can change their password"})
    errors: dict[str, str] = {}
    if not form.current_password:
        refuse(errors, "current_password", "Enter your current password")
    else:
        try:
            async with store.write("sign_in_failures") as tx:
                await reserve_sign_in(tx, str(row["email"]))
        except Throttled as throttled:
            wait = throttled.wait_words() or lifetime_words(FORGET_AFTER)
            raise FormRefused(
                {
                    "current_password": "Too many wrong passwords lately: try again in "
                    f"{wait}, or reset your password by email"
                }
            ) from None
        if not await _password_matches(store, row, form.current_password):
            refuse(errors, "current_password", "Your current password is not right")
    names = (str(row["first_name"]), str(row["last_name"]))
    await new_password_errors(
        form.password,
        form.password_confirm,
        email=str(row["email"]),
        names=names,
        org=store.settings.org,
        errors=errors,
    )
    if (
        "password" not in errors
        and form.password
        and same_secret(form.password, form.current_password)
    ):
        refuse(errors, "password", "Choose a password different from your current one")
    if errors:
        raise FormRefused(errors)
    new_hash = await store.hasher.hash(form.password)
    moment = db_now()
    async with store.write("users", "sessions") as tx:
        changed = await tx.execute(
            """UPDATE users SET password_hash = ?, must_change_password = 0,
                   password_expires_at = NULL, updated_at = ?
               WHERE id = ? AND status = 'active' AND password_hash IS ?""",
            (new_hash, moment, user_id, row["password_hash"]),
        )
        if changed != 1:
            raise FormRefused({"_": "Your account changed meanwhile: sign in again"})
        await clear_failures(tx, str(row["email"]))
        await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
        await tx.execute(
            """UPDATE action_tokens SET used_at = ?
               WHERE user_id = ? AND purpose = 'set_password' AND used_at IS NULL""",
            (moment, user_id),
        )
        token = new_token()
        expires = now() + SESSION_VALID
        fresh = await _open_session(tx, user_id, token, expires)
        assert fresh is not None  # the UPDATE above found it, in this transaction
        await record(tx, actor, "password_changed", str(row["email"]))
    return Session(token=token, user=_account(fresh), expires_at=expires)


# --- forgotten passwords -----------------------------------------------------------------------


async def request_password_reset(store: Store, email: str, *, actor: str) -> Allowance:
    """Email a set-password link when the address belongs to an active (or still unconfirmed)
    account; the new link replaces any earlier one. The caller answers the same either way;
    blocked accounts get nothing.

    Requests are limited per address (store.messaging.mail_limits), counted whether or not it has an
    account: the returned Allowance (when one may ask again) is the same for any address
    asked for as often, so it tells nobody which addresses exist."""
    address = email.strip()
    if not address or "@" not in address or len(address) > 254:
        return Allowance(allowed=False)
    async with store.write() as tx:
        allowance = await reserve_message(tx, address, "set_password")
        if not allowance.allowed:
            return allowance
        row = await tx.fetchone(
            "SELECT id, email, first_name, last_name, status FROM users WHERE email_key = ?",
            (address_key(address),),
        )
        if row is None or row["status"] in BLOCKED:
            return allowance
        await queue_set_password_email(
            tx,
            store.settings,
            user_id=int(row["id"]),
            email=str(row["email"]),
            first_name=str(row["first_name"]),
            name=f"{row['first_name']} {row['last_name']}".strip(),
        )
        await record(tx, actor, "password_reset_requested", str(row["email"]))
    return allowance


async def set_password_account(store: Store, token: str) -> User:
    """The account a set-password token may change, or TokenUnusable."""
    row = await store.engine.fetchone(
        """SELECT u.*, t.used_at AS token_used_at, t.expires_at AS token_expires_at
           FROM action_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = ? AND t.purpose = 'set_password'""",
        (token_digest(token),),
    )
    if row is None:
        raise TokenUnusable(known=False)
    if (
        row["token_used_at"] is not None
        or str(row["token_expires_at"]) <= db_now()
        or row["status"] in CLOSED
    ):
        raise TokenUnusable(known=True)
    return from_row(row, User)


async def set_password_by_token(
    store: Store, token: str, password: str, password_confirm: str, *, actor: str
) -> User:
    """Set the password through an emailed link (single use). Following the link proves the
    address, so an unconfirmed account is confirmed on the way."""
    user = await set_password_account(store, token)
    errors: dict[str, str] = {}
    await new_password_errors(
        password,
        password_confirm,
        email=user.email,
        names=(user.first_name, user.last_name),
        org=store.settings.org,
        errors=errors,
    )
    if errors:
        raise FormRefused(errors)
    new_hash = await store.hasher.hash(password)
    moment = db_now()
    async with store.write("users", "sessions", "action_tokens") as tx:
        used = await tx.execute(
            """UPDATE action_tokens SET used_at = ?
               WHERE token_hash = ? AND purpose = 'set_password' AND used_at IS NULL
                 AND expires_at > ?""",
            (moment, token_digest(token), moment),
        )
        row = await tx.fetchone(
            """SELECT u.*, l.auto_accept FROM users u
               LEFT JOIN invite_links l ON l.id = u.link_id WHERE u.id = ?""",
            (user.id,),
        )
        if used != 1 or row is None or row["status"] in CLOSED:
            raise TokenUnusable(known=True)
        status: UserStatus = row["status"]
        confirmed_at = row["confirmed_at"] or moment  # following an emailed link proves it
        if status == "unconfirmed":
            status = await admitted_status(tx, store.settings, auto_accept=bool(row["auto_accept"]))
            confirmed_at = moment
            await queue_status_email(tx, store.settings, row_dict(row), status)
            await emit(tx, store.settings, "user.confirmed", {**row_dict(row), "status": status})
        await tx.execute(
            """UPDATE users SET password_hash = ?, must_change_password = 0, status = ?,
                   password_expires_at = NULL, confirmed_at = ?, updated_at = ?
               WHERE id = ?""",
            (new_hash, status, confirmed_at, moment, user.id),
        )
        await tx.execute(
            """UPDATE action_tokens SET used_at = ?
               WHERE user_id = ? AND used_at IS NULL""",
            (moment, user.id),
        )
        await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
        await clear_failures(tx, user.email)
        await record(tx, actor, "password_set", user.email, {"status": status})
        fresh = await tx.fetchone("SELECT * FROM users WHERE id = ?", (user.id,))
    assert fresh is not None
    return from_row(fresh, User)
