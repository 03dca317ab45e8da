"""Adding one person (the console's Add user screen, `usher users add`): the account exists at
once, and — unless the admin says not to — its owner is emailed how to sign in.

Three ways to the first password:
- `link` ("let them choose", the default): no password; the email carries a single-use
  set-password link (72 hours).
- `generate`: a one-time credential (130 bits, `otc$` + SHA-256, 7 days) shown to the admin once,
  never emailed; it must be changed at first sign-in.
- `set`: the admin types it; policy-checked, hashed with argon2id before the transaction,
  expiring after 7 days like any initial password, and changed at first sign-in.

`check_fields` answers field by field (the form highlights them as the admin types);
`add_user` checks again, then writes the account, its set-password token, its email and one
audit entry in one transaction (`store.onboarding.accounts_create`). Nothing is written when
anything is refused; an address that already has an account gives `AddressTaken` with that account's
id.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Literal, get_args

import msgspec

from store.accounts.acting import require
from store.accounts.users import UserView, get_user
from store.database.engine import Engine
from store.domain import clock
from store.domain.addresses import AddressProblem, address_key, normalise_address
from store.domain.forms import email_problem, name_problem, own_names
from store.domain.languages import checked_language
from store.domain.passwords import password_problem
from store.domain.refusal import FormRefused
from store.domain.text import one_line
from store.domain.tokens import SET_PASSWORD_VALID
from store.domain.vocabulary import LEVELS, AuditAction, level_named
from store.onboarding.accounts_create import (
    ONE_TIME_CREDENTIAL_LIFETIME,
    AccountOptions,
    InsertOutcome,
    NewAccount,
    StoredCredential,
    create_accounts,
    hashed_credential,
    one_time_credential,
)

if TYPE_CHECKING:
    from store.database.core import Store

__all__ = [
    "AUDIT_ACTION",
    "PASSWORD_CHOICES",
    "AddOutcome",
    "AddressTaken",
    "NewUserForm",
    "PasswordChoice",
    "Refused",
    "UserAdded",
    "add_user",
    "check_fields",
    "existing_user_id",
]

PasswordChoice = Literal["link", "generate", "set"]
PASSWORD_CHOICES: tuple[PasswordChoice, ...] = get_args(PasswordChoice)
FIELDS = ("first_name", "last_name", "email", "level", "language", "password")
"""Form fields in page order (the keys of `check_fields`' answer)."""
AUDIT_ACTION: AuditAction = "user_added"
SET_PASSWORD_HOURS = int(SET_PASSWORD_VALID.total_seconds() // 3600)
ONE_TIME_DAYS = ONE_TIME_CREDENTIAL_LIFETIME.days


class NewUserForm(msgspec.Struct, kw_only=True):
    """What the admin typed, as typed (the console's form and the CLI's flags)."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    level: str = "member"
    choice: str = "link"
    password: str = ""
    """Only for `set`; ignored otherwise."""
    send_email: bool = True
    language: str = ""
    """A shipped code stored with the account (its emails are written in it); empty: none."""


class UserAdded(msgspec.Struct, frozen=True, kw_only=True):
    user: UserView
    choice: PasswordChoice
    credential: str | None = None
    """The generated one-time password: show it once, then forget it (never stored in clear)."""
    password_expires_at: datetime | None = None
    email_queued: bool = False

    def __repr__(self) -> str:
        return f"UserAdded(user_id={self.user.id}, choice={self.choice!r}, credential=***)"


class AddressTaken(msgspec.Struct, frozen=True, kw_only=True):
    """The address already has an account (`user_id`); nothing was written."""

    user_id: int
    email: str

    @property
    def errors(self) -> dict[str, str]:
        return {"email": f"{self.email} already has an account"}


Refused = FormRefused
"""Field name → what to fix (`errors`); nothing was written. The one refusal type of
store.domain.refusal, returned here beside the other outcomes rather than raised."""


AddOutcome = UserAdded | AddressTaken | Refused


# ------------------------------------------------------------------ checking


def _language_problem(value: str) -> str | None:
    try:
        checked_language(value)
    except ValueError as problem:
        return str(problem)
    return None


def _choice(value: str) -> PasswordChoice | None:
    for choice in PASSWORD_CHOICES:
        if choice == value:
            return choice
    return None


def check_fields(
    form: NewUserForm, *, org: str = "", estimate_strength: bool = True
) -> dict[str, str]:
    """Every field's problem, in page order ({} = the form can be submitted). Pure, and cheap
    but for a password's strength estimate (up to ~60 ms of CPU, remembered): the console
    calls it with `estimate_strength=False` on each keystroke and whole in a thread. `org` is
    the organisation's name (a word the password must not be built on). Whether the address
    is taken is `existing_user_id`."""
    errors: dict[str, str] = {}
    named: dict[str, str] = {}
    name_problem(form.first_name, "first name", named, "first_name", voice="their")
    name_problem(form.last_name, "last name", named, "last_name", required=False, voice="their")
    problems: dict[str, str | None] = {
        **named,
        "email": email_problem(form.email, voice="their"),
        "level": None if level_named(form.level) else f"Choose one of {', '.join(LEVELS)}",
        "language": _language_problem(form.language),
    }
    choice = _choice(form.choice)
    if choice is None:
        problems["password"] = "Choose how they get a password: link, generate or set"  # noqa: S105
    elif choice == "set":
        if not form.password:
            problems["password"] = "Type the password they will start with"  # noqa: S105
        else:
            first = one_line(form.first_name)
            last = one_line(form.last_name)
            problems["password"] = password_problem(
                form.password,
                email=form.email.strip(),
                names=own_names(first, last),
                org=org,
                estimate_strength=estimate_strength,
            )
    for field in FIELDS:
        problem = problems.get(field)
        if problem:
            errors[field] = problem
    return errors


async def existing_user_id(engine: Engine, email: str) -> int | None:
    """The id of the account with this address (compared case-insensitively), if any."""
    try:
        address = normalise_address(email)
    except AddressProblem:
        return None
    found = await engine.scalar("SELECT id FROM users WHERE email_key = ?", (address_key(address),))
    return None if found is None else int(found)


# ------------------------------------------------------------------ adding


async def add_user(store: Store, form: NewUserForm, *, actor: str) -> AddOutcome:
    """Check `form`, make the credential (hashing happens here, before any lock), then write the
    account, its set-password token and email (when `send_email`) and the audit entry in one
    transaction."""
    require("users")
    errors = await asyncio.to_thread(check_fields, form, org=store.settings.org)
    if errors:
        return Refused(errors=errors)
    email = normalise_address(form.email)
    taken = await existing_user_id(store.engine, email)
    if taken is not None:
        return AddressTaken(user_id=taken, email=email)
    choice = _choice(form.choice)
    level = level_named(form.level)
    assert choice is not None and level is not None  # check_fields said so

    shown: str | None = None
    credential = StoredCredential()
    if choice == "generate":
        shown, credential = one_time_credential()
    elif choice == "set":
        credential = await hashed_credential(
            store.hasher, form.password, expires_after=ONE_TIME_CREDENTIAL_LIFETIME
        )
    account = NewAccount(
        email=email,
        first_name=one_line(form.first_name),
        last_name=one_line(form.last_name),
        credential=credential,
    )
    options = AccountOptions(
        level=level,
        source="single",
        must_change_password=choice != "link",
        notify=form.send_email,
        language=checked_language(form.language),
    )

    def describe(outcome: InsertOutcome) -> tuple[str, dict[str, object]]:
        return email, {
            "user_id": outcome.created[0].user_id if outcome.created else None,
            "level": level,
            "password": choice,
            "must_change_password": options.must_change_password,
            "emailed": form.send_email,
            "language": options.language,
        }

    outcome = await create_accounts(
        store, [account], options, actor=actor, action=AUDIT_ACTION, describe=describe
    )
    if not outcome.created:
        # Taken between our look and the write (ON CONFLICT DO NOTHING): nothing was written.
        existing = await existing_user_id(store.engine, email)
        if existing is None:
            return Refused(errors={"email": "That address changed meanwhile: try again"})
        return AddressTaken(user_id=existing, email=email)
    user = await get_user(store.engine, outcome.created[0].user_id)
    assert user is not None
    expires = credential.expires_at
    return UserAdded(
        user=user,
        choice=choice,
        credential=shown,
        password_expires_at=clock.from_db(expires) if expires else None,
        email_queued=outcome.emails_queued > 0,
    )
