"""Accounts made through invite links, and confirming their address (signing in, sessions and
passwords afterwards: `store.accounts.auth`).

The rules that keep it correct:
- A link's use is taken in the same short transaction that creates the account, by one
  conditional UPDATE: a link with max uses N admits exactly N accounts, from any number of
  processes. Hashing happens before that transaction, never inside it.
- Nothing tells a stranger which addresses have accounts: with confirmation on, an existing
  address gets the same answer as a new one (and its owner an email); sign-in does the same
  hasher work for unknown addresses; a reset request answers the same whatever the address.
- Unconfirmed accounts expire after 24 hours and give their link use back.
- Pending, rejected and disabled accounts are blocked: they can only see their state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import msgspec

from store.accounts.audit import record
from store.accounts.seats import admitted_status
from store.accounts.throttle import Throttled
from store.database.core import Store
from store.database.engine import Row, Transaction
from store.domain.addresses import address_key
from store.domain.clock import db_now, now, to_db
from store.domain.forms import (
    check_email_address,
    domains_words,
    name_problem,
    new_password_errors,
    outside_domains,
    own_names,
    refuse,
)
from store.domain.records import UserStatus
from store.domain.refusal import FormRefused
from store.domain.tokens import (
    SET_PASSWORD_VALID,
    new_token,
    same_secret,
    token_digest,
)
from store.messaging.mail_limits import reserve_message
from store.messaging.outbox import enqueue
from store.messaging.webhooks import emit, emit_many
from store.onboarding.confirmation import browser_proof, proof_matches
from store.onboarding.link_attempts import Guesser, check_link_password
from store.onboarding.links import Link, link_by_token
from store.service.settings import Settings

__all__ = [
    "CONFIRM_VALID",
    "SET_PASSWORD_VALID",
    "UNCONFIRMED_VALID",
    "ConfirmOutcome",
    "Expired",
    "FormRefused",
    "SignupForm",
    "SignupOutcome",
    "Throttled",
    "TokenUnusable",
    "check_email_address",
    "confirm_email",
    "domains_words",
    "expire_unconfirmed",
    "expire_unconfirmed_in",
    "link_for_page",
    "name_problem",
    "queue_confirmation",
    "queue_set_password_email",
    "queue_status_email",
    "row_dict",
    "sign_up_by_link",
    "usable_link",
]

CONFIRM_VALID = timedelta(hours=24)
UNCONFIRMED_VALID = timedelta(hours=24)

# --- errors and results ------------------------------------------------------------------------


class TokenUnusable(Exception):
    """The token in the URL leads nowhere. `known` tells 410 (it existed) from 404, but both
    show the same calm page: nobody learns which tokens were once real."""

    def __init__(self, known: bool) -> None:
        super().__init__("gone" if known else "unknown")
        self.known = known


class SignupForm(msgspec.Struct, kw_only=True):
    """The join page's fields (DESIGN.md's names). Unknown fields (the CSRF token) are ignored."""

    email: str = ""
    first_name: str = ""
    last_name: str = ""
    password: str = ""
    password_confirm: str = ""
    link_password: str = ""


class SignupOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """`check_email`: confirmation sent (or the address exists: same answer); `pending`: waits
    for approval; `active`: ready to sign in."""

    kind: Literal["check_email", "pending", "active"]
    user_id: int | None = None
    browser_proof: str = ""
    """For the signup cookie when a confirmation was sent (store.onboarding.confirmation):
    confirming from this browser keeps the password typed here."""


class ConfirmOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """`set_password_token`: the person who confirmed now chooses the password (a fresh
    set-password token, for the page they go to next); None when it was confirmed already."""

    status: UserStatus
    already: bool = False
    set_password_token: str | None = None
    email: str = ""
    kept_password: bool = False
    """True when the browser that signed up confirmed: the signup password still opens it."""
    language: str | None = None
    """The account's language: the pages after confirming are written in it."""


# --- small rules -------------------------------------------------------------------------------


def row_dict(row: Row) -> dict[str, object]:
    return dict(zip(row.keys(), row, strict=True))


def _url(settings: Settings, path: str) -> str:
    return f"{settings.base_url}{path}"


async def tell_account_exists(
    tx: Transaction, settings: Settings, email: str, first_name: str, last_name: str
) -> None:
    """Someone signed up (or moved a signup) to an address that has an account: its owner gets
    an `account_exists` email (sign in, or reset the password), within the per-address mail
    limit. The stranger sees the same answer as for a new address (no enumeration)."""
    allowance = await reserve_message(tx, email, "account_exists")
    if allowance.allowed:
        await enqueue(
            tx,
            settings,
            to=email,
            name=f"{first_name} {last_name}".strip(),
            kind="account_exists",
            values={
                "first_name": first_name,
                "login_url": _url(settings, "/login"),
                "forgot_url": _url(settings, "/password/forgot"),
            },
        )


async def _new_action_token(
    tx: Transaction, user_id: int, purpose: str, valid_for: timedelta
) -> str:
    token = new_token()
    await tx.execute(
        """INSERT INTO action_tokens (token_hash, purpose, user_id, expires_at, created_at)
           VALUES (?, ?, ?, ?, ?)""",
        (token_digest(token), purpose, user_id, to_db(now() + valid_for), db_now()),
    )
    tx.touch("action_tokens")
    return token


async def _new_set_password_token(tx: Transaction, user_id: int) -> str:
    """A set-password token for `user_id`; every earlier one stops working (only the newest
    link is live, so 30 reset requests never leave 30 ways in)."""
    await tx.execute(
        """UPDATE action_tokens SET used_at = ?
           WHERE user_id = ? AND purpose = 'set_password' AND used_at IS NULL""",
        (db_now(), user_id),
    )
    return await _new_action_token(tx, user_id, "set_password", SET_PASSWORD_VALID)


async def queue_status_email(
    tx: Transaction,
    settings: Settings,
    user_row: dict[str, object],
    status: str,
    language: str | None = None,
) -> None:
    """Welcome an active account, or tell a pending one it waits for approval."""
    email = str(user_row["email"])
    name = f"{user_row['first_name']} {user_row['last_name']}".strip()
    values = {"first_name": str(user_row["first_name"]), "level": str(user_row["level"])}
    if status == "active":
        await enqueue(
            tx,
            settings,
            to=email,
            name=name,
            kind="welcome",
            values={**values, "login_url": _url(settings, "/login")},
            language=language,
        )
    elif status == "pending":
        await enqueue(
            tx,
            settings,
            to=email,
            name=name,
            kind="pending_approval",
            values=values,
            language=language,
        )


async def queue_set_password_email(
    tx: Transaction, settings: Settings, *, user_id: int, email: str, first_name: str, name: str
) -> None:
    """Mint a set-password token (72 h, single use) and queue the email carrying it.

    For any code that needs to send someone a "choose your password" link (reset, admin
    resend, accounts created without a password), inside the caller's transaction.
    """
    token = await _new_set_password_token(tx, user_id)
    await enqueue(
        tx,
        settings,
        to=email,
        name=name,
        kind="set_password",
        values={
            "first_name": first_name,
            "set_password_url": _url(settings, f"/password/set/{token}"),
            "valid_hours": int(SET_PASSWORD_VALID.total_seconds() // 3600),
        },
        secret_keys=["set_password_url"],
    )


# --- housekeeping ------------------------------------------------------------------------------


class Expired(msgspec.Struct, frozen=True, kw_only=True):
    removed: int = 0
    link_uses_returned: int = 0


async def expire_unconfirmed_in(
    tx: Transaction, settings: Settings, *, moment: datetime | None = None
) -> Expired:
    """Inside the caller's transaction: delete accounts left unconfirmed for 24 h (as of
    `moment`, default now), give their link uses back, audit each and tell the webhooks."""
    cutoff = to_db((moment or now()) - UNCONFIRMED_VALID)
    rows = await tx.fetchall(
        "SELECT id, email, link_id FROM users WHERE status = 'unconfirmed' AND created_at <= ?",
        (cutoff,),
    )
    if not rows:
        return Expired()
    given_back: dict[int, int] = {}
    for row in rows:
        if row["link_id"] is not None:
            given_back[int(row["link_id"])] = given_back.get(int(row["link_id"]), 0) + 1
    returned = 0
    for link_id, count in given_back.items():
        link = await tx.fetchone("SELECT uses FROM invite_links WHERE id = ?", (link_id,))
        if link is not None:
            returned += min(count, int(link["uses"]))
    await tx.executemany(
        "UPDATE invite_links SET uses = max(uses - ?, 0) WHERE id = ?",
        [(count, link_id) for link_id, count in given_back.items()],
    )
    await tx.executemany(
        "DELETE FROM users WHERE id = ? AND status = 'unconfirmed'", [(row["id"],) for row in rows]
    )
    for row in rows:
        await record(
            tx,
            "usher",
            "unconfirmed_expired",
            str(row["email"]),
            {"link_id": row["link_id"]},
        )
    await emit_many(tx, settings, "user.deleted", rows)
    tx.touch("users", "invite_links", "action_tokens")
    return Expired(removed=len(rows), link_uses_returned=returned)


async def expire_unconfirmed(store: Store, *, moment: datetime | None = None) -> int:
    """Delete accounts left unconfirmed for 24 h, giving their link uses back; returns how many.

    Housekeeping calls it now and then; signups and link checks call it lazily as well.
    """
    async with store.write() as tx:
        return (await expire_unconfirmed_in(tx, store.settings, moment=moment)).removed


# --- signing up through a link -----------------------------------------------------------------


async def _has_expired_unconfirmed(store: Store, link_id: int) -> bool:
    """A read first, so a used-up link's page never takes the write lock for nothing."""
    found = await store.engine.scalar(
        """SELECT 1 FROM users WHERE link_id = ? AND status = 'unconfirmed' AND created_at <= ?
           LIMIT 1""",
        (link_id, to_db(now() - UNCONFIRMED_VALID)),
    )
    return found is not None


async def usable_link(store: Store, token: str) -> Link:
    """The link behind `token` if people can join through it now, else TokenUnusable."""
    link = await link_by_token(store, token)
    if link is None:
        raise TokenUnusable(known=False)
    if link.state() == "used up" and await _has_expired_unconfirmed(store, link.id):
        await expire_unconfirmed(store)
        link = await link_by_token(store, token) or link
    if not link.is_usable():
        raise TokenUnusable(known=True)
    return link


_SIGNUP_STATE = """
    SELECT EXISTS (SELECT 1 FROM users WHERE status = 'unconfirmed' AND created_at <= :cutoff)
               AS stale,
           u.id AS existing_id, u.email AS existing_email,
           u.first_name AS existing_first_name, u.last_name AS existing_last_name,
           u.status AS existing_status, u.created_at AS existing_created_at,
           u.password_hash AS existing_password_hash, u.level AS existing_level,
           el.auto_accept AS existing_auto_accept,
           l.id AS link_id, l.label, l.level, l.auto_accept, l.confirm_email, l.domains
    FROM (SELECT 1) AS one
    LEFT JOIN users u ON u.email_key = :key
    LEFT JOIN invite_links el ON el.id = u.link_id
    LEFT JOIN invite_links l ON l.id = :link_id
"""


async def _signup_state(tx: Transaction, email: str, link_id: int) -> Row:
    """Everything a signup's transaction reads, in one statement: whether any account waits to
    expire (the rare case that needs `expire_unconfirmed_in` first), the account already using
    `email` (existing_* columns, NULL when none) and the link as it is now (NULL columns when
    it is gone)."""
    row = await tx.fetchone(
        _SIGNUP_STATE,
        {"cutoff": to_db(now() - UNCONFIRMED_VALID), "key": address_key(email), "link_id": link_id},
    )
    assert row is not None  # one row, always: FROM (SELECT 1)
    return row


PAGE_LINKS_KEPT = 1000
"""At most this many links are kept by `link_for_page` between two commits."""


async def link_for_page(store: Store, token: str) -> Link:
    """`usable_link` for showing the signup page, kept in memory until the database changes
    (`Engine.read_cache`): the page is opened far more often than links change, and this spares
    a database round trip per visit. Expiry is checked on every visit. A change made by another
    process shows after one poll of the change feed (~0.1 s); the signup itself never relies on
    it (`sign_up_by_link` reads the link afresh and its transaction checks it again)."""
    cache = store.engine.read_cache()
    key = ("usable_link", token)
    kept = cache.get(key) if cache is not None else None
    if isinstance(kept, Link) and kept.is_usable():
        return kept
    link = await usable_link(store, token)
    if cache is not None and len(cache) < PAGE_LINKS_KEPT:
        cache[key] = link
    return link


async def sign_up_by_link(
    store: Store,
    token: str,
    form: SignupForm,
    *,
    actor: str,
    link: Link | None = None,
    guesser: Guesser | None = None,
    language: str | None = None,
) -> SignupOutcome:
    """Create an account through the link `token`, or say why not.

    `language` is the one the signup page was read in (`store.domain.languages.choose`: the link's,
    unless the invitee switched): it is stored with the account, and every email to them is
    written in it.

    FormRefused: something typed must change (the page shows it again). TokenUnusable: the link
    stopped working (expired, used up, revoked, regenerated), possibly while the form was open.
    `link` is what `usable_link(store, token)` just returned, when the caller has it (the
    signup page does): it saves reading it again. The transaction checks the link anew anyway.
    `guesser` is who types the link password (store.onboarding.link_attempts counts their wrong
    guesses; LinkGuessesExhausted when they are over the limit).
    """
    if link is None or not same_secret(link.token, token):
        link = await usable_link(store, token)
    email, first, last = await _checked_form(store, link, form, guesser)

    password_hash = await store.hasher.hash(form.password)  # before the write lock, always
    moment = db_now()
    async with store.write("users", "invite_links") as tx:
        found = await _signup_state(tx, email, link.id)
        if found["stale"]:  # rare: accounts left unconfirmed too long go first, then look again
            await expire_unconfirmed_in(tx, store.settings)
            found = await _signup_state(tx, email, link.id)
        current = found if found["link_id"] is not None else None
        confirm = bool(current["confirm_email"]) if current else link.confirm_email
        if found["existing_id"] is not None:
            return await _existing_address(
                tx,
                store.settings,
                found,
                link,
                NewSignup(email=email, first=first, last=last, password_hash=password_hash),
                confirm,
                actor=actor,
                language=language,
            )
        current = await _take_one_use(tx, link, token, current, email, moment)
        user_id, status = await _create_link_account(
            tx,
            store.settings,
            link,
            current,
            NewSignup(email=email, first=first, last=last, password_hash=password_hash),
            confirm=confirm,
            moment=moment,
            actor=actor,
            language=language,
        )
    kind: Literal["check_email", "pending", "active"] = (
        "check_email" if status == "unconfirmed" else status
    )
    proof = ""
    if kind == "check_email":  # only then is the secret read: an auto-accept signup stays lean
        proof = browser_proof(await store.secret_key(), user_id, moment, password_hash)
    return SignupOutcome(kind=kind, user_id=user_id, browser_proof=proof)


class NewSignup(msgspec.Struct, frozen=True, kw_only=True):
    """What a checked signup form gives the transaction: the address, names, the hash."""

    email: str
    first: str
    last: str
    password_hash: str

    def __repr__(self) -> str:  # the hash stays out of logs and tracebacks
        return f"NewSignup(email={self.email!r}, password_hash=***)"


async def _checked_form(
    store: Store, link: Link, form: SignupForm, guesser: Guesser | None
) -> tuple[str, str, str]:
    """The signup form checked before anything is hashed or written: (address, first name,
    last name), or FormRefused with every field's problem. A wrong link password counts as a
    guess (store.onboarding.link_attempts)."""
    errors: dict[str, str] = {}
    email = ""
    try:
        email = check_email_address(form.email)
    except ValueError as error:
        errors["email"] = str(error)
    outside = outside_domains(link.domains, email) if email else None
    if outside:
        errors["email"] = outside
    first = name_problem(form.first_name, "first name", errors, "first_name")
    last = name_problem(form.last_name, "last name", errors, "last_name", required=False)
    await new_password_errors(
        form.password,
        form.password_confirm,
        email=email or form.email.strip(),
        names=own_names(first, last),
        org=store.settings.org,
        errors=errors,
    )
    if link.has_password:
        if not form.link_password:
            refuse(
                errors, "link_password", "Enter the link's password (ask the person who sent it)"
            )
        elif not await check_link_password(
            store, link.id, form.link_password, guesser or Guesser(email=form.email)
        ):
            refuse(
                errors, "link_password", "The link's password is not right: check it and try again"
            )
    if errors:
        raise FormRefused(errors)
    return email, first, last


async def _existing_address(
    tx: Transaction,
    settings: Settings,
    found: Row,
    link: Link,
    signup: NewSignup,
    confirm: bool,
    *,
    actor: str,
    language: str | None = None,
) -> SignupOutcome:
    """The address has an account. Unconfirmed: this signup replaces it (`_sign_up_again`,
    in the page's `language`).
    Otherwise its owner is told, and the stranger sees what a new signup sees (no
    enumeration) — unless the link confirms no address, when there is nothing to hide."""
    if not confirm:
        raise FormRefused(
            {
                "email": "An account with this address already exists: "
                "sign in, or reset your password if you have forgotten it"
            }
        )
    first, last, password_hash = signup.first, signup.last, signup.password_hash
    secret = await _secret_in(tx)
    if found["existing_status"] == "unconfirmed":
        return await _sign_up_again(
            tx, settings, found, first, last, password_hash, secret, actor=actor, language=language
        )
    await tell_account_exists(
        tx,
        settings,
        str(found["existing_email"]),
        str(found["existing_first_name"]),
        str(found["existing_last_name"]),
    )
    await record(
        tx,
        actor,
        "signup_existing_address",
        str(found["existing_email"]),
        {"link_id": link.id},
    )
    # A proof like any other signup's (the answer looks the same); it opens nothing:
    # only unconfirmed accounts are confirmed, resent to or moved (store.onboarding.confirmation).
    existing = int(found["existing_id"])
    return SignupOutcome(
        kind="check_email",
        browser_proof=browser_proof(
            secret, existing, str(found["existing_created_at"]), password_hash
        ),
    )


async def _take_one_use(
    tx: Transaction, link: Link, token: str, current: Row | None, email: str, moment: str
) -> Row:
    """One use of the link, in one statement that also checks it still works (`uses <
    max_uses`: N uses never admit N+1), then its domains as they are now; returns the link's
    row as the transaction read it."""
    taken = await tx.execute(
        """UPDATE invite_links SET uses = uses + 1
           WHERE id = ? AND token = ? AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > ?)
             AND (max_uses IS NULL OR uses < max_uses)""",
        (link.id, token, moment),
    )
    if taken != 1 or current is None:
        raise TokenUnusable(known=True)
    domains = tuple(msgspec.json.decode(current["domains"] or "[]", type=list[str]))
    outside = outside_domains(domains, email)
    if outside:
        raise FormRefused({"email": outside})
    return current


async def _create_link_account(
    tx: Transaction,
    settings: Settings,
    link: Link,
    current: Row,
    signup: NewSignup,
    *,
    confirm: bool,
    moment: str,
    actor: str,
    language: str | None,
) -> tuple[int, Literal["unconfirmed", "pending", "active"]]:
    """Insert the account (unconfirmed when the link confirms addresses, else pending or
    active), its `user.created` event, its first email and the audit entry; returns the new
    id and status."""
    email, first, last = signup.email, signup.first, signup.last
    level = str(current["level"])
    status: Literal["unconfirmed", "pending", "active"]
    if confirm:
        status = "unconfirmed"
    else:
        status = await admitted_status(tx, settings, auto_accept=bool(current["auto_accept"]))
    key = address_key(email)
    user_id = await tx.execute(
        """INSERT INTO users (email, email_key, first_name, last_name, level, status,
               password_hash, must_change_password, source, link_id, created_at, updated_at,
               language)
           VALUES (?, ?, ?, ?, ?, ?, ?, 0, 'link', ?, ?, ?, ?)""",
        (
            email,
            key,
            first,
            last,
            level,
            status,
            signup.password_hash,
            link.id,
            moment,
            moment,
            language,
        ),
    )
    created = {"id": user_id, "email": email, "level": level, "status": status}
    await emit(tx, settings, "user.created", created)
    user_row: dict[str, object] = {
        "email": email,
        "first_name": first,
        "last_name": last,
        "level": level,
    }
    if status == "unconfirmed":
        await reserve_message(tx, email, "confirm_email")  # counts toward resends
        await queue_confirmation(
            tx,
            settings,
            user_id=user_id,
            email=email,
            first_name=first,
            last_name=last,
            level=level,
            needs_approval=not bool(current["auto_accept"]),
            language=language,
        )
    else:
        await queue_status_email(tx, settings, user_row, status, language)
    await record(
        tx,
        actor,
        "signed_up",
        email,
        {"link_id": link.id, "link": str(current["label"]), "status": status},
    )
    return user_id, status


async def queue_confirmation(
    tx: Transaction,
    settings: Settings,
    *,
    user_id: int,
    email: str,
    first_name: str,
    last_name: str,
    level: str,
    needs_approval: bool,
    language: str | None = None,
) -> None:
    """A fresh confirmation link (24 h) and the email carrying it, inside the caller's
    transaction. Earlier links of the account keep working until they expire."""
    confirm_token = await _new_action_token(tx, user_id, "confirm_email", CONFIRM_VALID)
    await enqueue(
        tx,
        settings,
        to=email,
        name=f"{first_name} {last_name}",
        kind="confirm_email",
        values={
            "first_name": first_name,
            "level": level,
            "confirm_url": _url(settings, f"/confirm/{confirm_token}"),
            "valid_hours": int(CONFIRM_VALID.total_seconds() // 3600),
            "needs_approval": needs_approval,
        },
        secret_keys=["confirm_url"],
        language=language,
    )


async def _secret_in(tx: Transaction) -> str:
    """The database's secret (`Store.secret_key`), read inside the caller's transaction."""
    row = await tx.fetchone("SELECT value FROM meta WHERE key = 'secret_key'")
    assert row is not None  # made by migration 1
    return str(row[0])


async def _sign_up_again(
    tx: Transaction,
    settings: Settings,
    found: Row,
    first: str,
    last: str,
    password_hash: str,
    secret: str,
    *,
    actor: str,
    language: str | None = None,
) -> SignupOutcome:
    """The address signed up before and was never confirmed (the email was lost, or went to
    spam): this signup's name and password replace the earlier ones and a fresh confirmation
    goes out (rate-limited per address), taking no second use of the link. A proof made for
    the earlier signup stops matching (it names the password), so only this browser keeps its
    password on confirming."""
    user_id = int(found["existing_id"])
    email = str(found["existing_email"])
    await tx.execute(
        """UPDATE users SET first_name = ?, last_name = ?, password_hash = ?, updated_at = ?,
                            language = coalesce(?, language)
           WHERE id = ? AND status = 'unconfirmed'""",
        (first, last, password_hash, db_now(), language, user_id),
    )
    allowance = await reserve_message(tx, email, "confirm_email")
    if allowance.allowed:
        await queue_confirmation(
            tx,
            settings,
            user_id=user_id,
            email=email,
            first_name=first,
            last_name=last,
            level=str(found["existing_level"]),
            needs_approval=not bool(found["existing_auto_accept"]),
        )
    await record(tx, actor, "signed_up_again", email, {"sent": allowance.allowed})
    tx.touch("users", "action_tokens")
    proof = browser_proof(secret, user_id, str(found["existing_created_at"]), password_hash)
    return SignupOutcome(kind="check_email", browser_proof=proof)  # as for any address


async def confirm_email(
    store: Store,
    token: str,
    *,
    actor: str,
    browser_proof: str = "",
    language: str | None = None,
) -> ConfirmOutcome:
    """Confirm the address behind a confirmation token: the account becomes active, or pending
    when its link asks for approval. A second visit says it is done already.

    Confirming proves the address, not the password typed at signup: a stranger may have
    signed up with someone else's address and chosen that password. So unless the confirmation
    comes from the browser that signed up (`browser_proof`, the signup cookie: the same person
    typed the password and opened the mail), the signup password is dropped here and whoever
    confirmed chooses the password next (`set_password_token`), and every session of the
    account ends (the status change does that, migration 10). The stranger's password never
    opens the account the real owner confirmed.

    `language`: the one the confirmer switched the page to, if they did; it becomes the
    account's (every later email is written in it)."""
    digest = token_digest(token)
    moment = db_now()
    secret = await store.secret_key() if browser_proof else ""
    async with store.write() as tx:
        row = await tx.fetchone(
            """SELECT t.id AS token_id, t.used_at, t.expires_at, u.id AS user_id, u.email,
                      u.first_name, u.last_name, u.level, u.status, l.auto_accept,
                      u.created_at AS signed_up_at, u.password_hash, u.language
               FROM action_tokens t JOIN users u ON u.id = t.user_id
               LEFT JOIN invite_links l ON l.id = u.link_id
               WHERE t.token_hash = ? AND t.purpose = 'confirm_email'""",
            (digest,),
        )
        if row is None:
            raise TokenUnusable(known=False)
        if row["status"] != "unconfirmed":
            if row["used_at"] is None:
                await tx.execute(
                    "UPDATE action_tokens SET used_at = ? WHERE id = ?", (moment, row["token_id"])
                )
            return ConfirmOutcome(
                status=row["status"],
                already=True,
                email=str(row["email"]),
                language=row["language"],
            )
        if row["used_at"] is not None or str(row["expires_at"]) <= moment:
            raise TokenUnusable(known=True)
        status: UserStatus = await admitted_status(
            tx, store.settings, auto_accept=bool(row["auto_accept"])
        )
        same_browser = proof_matches(
            secret,
            browser_proof,
            int(row["user_id"]),
            str(row["signed_up_at"]),
            row["password_hash"],
        )
        written_in = language or row["language"]
        await tx.execute(
            """UPDATE users SET status = ?, confirmed_at = ?, updated_at = ?,
                   password_hash = CASE WHEN ? THEN password_hash END,
                   must_change_password = 0, password_expires_at = NULL, language = ?
               WHERE id = ? AND status = 'unconfirmed'""",
            (status, moment, moment, same_browser, written_in, row["user_id"]),
        )
        await tx.execute(
            "UPDATE action_tokens SET used_at = ? WHERE id = ?", (moment, row["token_id"])
        )
        await tx.execute("DELETE FROM sessions WHERE user_id = ?", (row["user_id"],))
        set_token = None if same_browser else await _new_set_password_token(tx, int(row["user_id"]))
        await queue_status_email(tx, store.settings, row_dict(row), status, written_in)
        await record(
            tx,
            actor,
            "email_confirmed",
            str(row["email"]),
            {"status": status, "same_browser": same_browser},
        )
        confirmed = {**row_dict(row), "id": row["user_id"], "status": status}
        for private in ("signed_up_at", "password_hash", "language"):
            confirmed.pop(private, None)
        await emit(tx, store.settings, "user.confirmed", confirmed)
        tx.touch("users", "action_tokens", "sessions")
    return ConfirmOutcome(
        status=status,
        set_password_token=set_token,
        email=str(row["email"]),
        kept_password=same_browser,
        language=written_in,
    )
