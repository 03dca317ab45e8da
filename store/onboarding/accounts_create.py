"""Creating accounts on an admin's behalf — one (Add user) or thousands (Bulk) — in one short
transaction, with their set-password links and `account_created` emails.

The slow parts happen before the transaction: credentials are hashed by the caller
(`hashed_credential`, `one_time_credential`), and `prepare_accounts` builds every row, token and
email payload (pure CPU, no I/O). `insert_accounts` then writes them with `executemany`; an
address that got an account in the meantime is skipped (`ON CONFLICT DO NOTHING`) and reported
as existing, never failing the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from store.accounts.audit import record
from store.database.engine import Transaction
from store.domain import clock
from store.domain.addresses import address_key
from store.domain.passwords import Hasher
from store.domain.records import Level
from store.domain.tokens import (
    ONE_TIME_CREDENTIAL_VALID,
    SET_PASSWORD_VALID,
    new_one_time_credential,
    new_token,
    one_time_credential_hash,
    token_digest,
)
from store.domain.vocabulary import AuditAction
from store.messaging.outbox_batch import OutboxRow, enqueue_rows, outbox_row
from store.messaging.webhooks import emit_many
from store.service.settings import Settings

if TYPE_CHECKING:
    from store.database.core import Store

ONE_TIME_CREDENTIAL_LIFETIME = ONE_TIME_CREDENTIAL_VALID
ACCOUNT_CREATED = "account_created"
"""The email kind (templates `store/messaging/emails/templates/account_created.*`)."""
PREPARE_IN_THREAD = 200
"""From this many accounts on, rows are prepared in a worker thread (keeps the loop free)."""

Source = Literal["single", "bulk"]


# gc=False: no reference cycles here, and a bulk batch makes thousands (see
# store.onboarding.bulk_lines).
class StoredCredential(msgspec.Struct, frozen=True, gc=False):
    """What goes in `users.password_hash` and `users.password_expires_at` (NULL = never)."""

    hash: str | None = None
    expires_at: str | None = None


def one_time_credential(now: datetime | None = None) -> tuple[str, StoredCredential]:
    """A fresh one-time credential: (what the admin is shown once, what is stored).

    Stored as SHA-256 under the `otc$` scheme (130 random bits need no slow hash), expiring
    after ONE_TIME_CREDENTIAL_LIFETIME.
    """
    raw = new_one_time_credential()
    expires = clock.to_db((now or clock.now()) + ONE_TIME_CREDENTIAL_LIFETIME)
    return raw, StoredCredential(one_time_credential_hash(raw), expires)


async def hashed_credential(
    hasher: Hasher, password: str, *, expires_after: timedelta | None = None
) -> StoredCredential:
    """An argon2id hash of `password` (check the policy first), optionally expiring."""
    expires = clock.db_now(expires_after) if expires_after is not None else None
    return StoredCredential(await hasher.hash(password), expires)


class NewAccount(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    email: str
    """Already normalised (`store.domain.addresses.normalise_address`)."""
    first_name: str
    last_name: str = ""
    credential: StoredCredential = StoredCredential()
    """No hash: the person chooses a password with the emailed link."""
    ref: int = 0
    """The caller's reference (a bulk line number), handed back in the outcome."""


class AccountOptions(msgspec.Struct, frozen=True, kw_only=True):
    level: Level
    source: Source
    must_change_password: bool = True
    notify: bool = True
    """Queue an `account_created` email with a single-use set-password link for each account."""
    batch_id: str | None = None
    language: str | None = None
    """Stored with each account (a shipped code, checked by the caller with
    `store.domain.languages.checked_language`): every email to them is written in it."""


class PreparedAccounts(msgspec.Struct, kw_only=True):
    """Everything `insert_accounts` writes, built before the transaction."""

    accounts: list[NewAccount]
    options: AccountOptions
    user_rows: list[tuple[Any, ...]]
    token_digests: list[str | None]
    emails: list[OutboxRow | None]
    now: str
    token_expires_at: str
    settings: Settings
    """For the `user.created` webhooks (`store.messaging.webhooks`), written with the accounts."""


class CreatedUser(msgspec.Struct, frozen=True, gc=False):
    user_id: int
    account: NewAccount


class InsertOutcome(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    created: list[CreatedUser]
    existing: list[NewAccount]
    """Addresses that already had an account when the transaction ran."""
    emails_queued: int


def set_password_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/password/set/{token}"


def account_created_values(
    settings: Settings, account: NewAccount, options: AccountOptions, token: str
) -> dict[str, Any]:
    """The `account_created` template's values (never a password: only the link to set one)."""
    return {
        "level": options.level,
        "login_url": f"{settings.base_url}/login",
        "sign_in_email": account.email,
        "set_password_url": set_password_url(settings, token),
        "set_password_hours": int(SET_PASSWORD_VALID.total_seconds() // 3600),
        "first_name": account.first_name,
        "has_initial_password": account.credential.hash is not None,
    }


def prepare_accounts(
    settings: Settings, accounts: Sequence[NewAccount], options: AccountOptions
) -> PreparedAccounts:
    """Rows, token digests and email rows for every account (CPU only: run it in a thread for
    big batches, before taking the write lock)."""
    now = clock.db_now()
    token_expires = clock.db_now(SET_PASSWORD_VALID)
    user_rows: list[tuple[Any, ...]] = []
    digests: list[str | None] = []
    emails: list[OutboxRow | None] = []
    for account in accounts:
        user_rows.append(
            (
                account.email,
                address_key(account.email),
                account.first_name,
                account.last_name,
                options.level,
                account.credential.hash,
                account.credential.expires_at,
                int(options.must_change_password),
                options.source,
                options.batch_id,
                now,
                now,
                options.language,
            )
        )
        if options.notify:
            token = new_token()
            digests.append(token_digest(token))
            emails.append(
                outbox_row(
                    settings,
                    to=account.email,
                    kind=ACCOUNT_CREATED,
                    values=account_created_values(settings, account, options, token),
                    name=f"{account.first_name} {account.last_name}".strip(),
                    secret_keys=("set_password_url",),
                    now=now,
                    language=options.language,
                )
            )
        else:
            digests.append(None)
            emails.append(None)
    return PreparedAccounts(
        accounts=list(accounts),
        options=options,
        user_rows=user_rows,
        token_digests=digests,
        emails=emails,
        now=now,
        token_expires_at=token_expires,
        settings=settings,
    )


_INSERT_USER = """
INSERT INTO users (email, email_key, first_name, last_name, level, status, password_hash,
                   password_expires_at, must_change_password, source, batch_id,
                   created_at, updated_at, language)
VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""


async def insert_accounts(tx: Transaction, prepared: PreparedAccounts) -> InsertOutcome:
    """Write the prepared accounts, their set-password tokens and emails in the caller's
    transaction. Accounts whose address is taken are left out and returned as `existing`."""
    row = await tx.fetchone("SELECT coalesce(max(id), 0) FROM users")
    before = int(row[0]) if row else 0
    await tx.executemany(_INSERT_USER, prepared.user_rows)
    tx.touch("users")
    # Inside this BEGIN IMMEDIATE transaction nobody else writes: every id above `before` is ours.
    ids = {
        str(found["email"]): int(found["id"])
        for found in await tx.fetchall("SELECT id, email FROM users WHERE id > ?", (before,))
    }
    created: list[CreatedUser] = []
    existing: list[NewAccount] = []
    tokens: list[tuple[str, int, str, str]] = []
    emails: list[OutboxRow] = []
    new_users: list[dict[str, Any]] = []
    for index, account in enumerate(prepared.accounts):
        user_id = ids.get(account.email)
        if user_id is None:
            existing.append(account)
            continue
        created.append(CreatedUser(user_id, account))
        new_users.append(
            {
                "id": user_id,
                "email": account.email,
                "level": prepared.options.level,
                "status": "active",
            }
        )
        digest = prepared.token_digests[index]
        email = prepared.emails[index]
        if digest is not None and email is not None:
            tokens.append((digest, user_id, prepared.token_expires_at, prepared.now))
            emails.append(email)
    if tokens:
        await tx.executemany(
            """INSERT INTO action_tokens (token_hash, purpose, user_id, expires_at, created_at)
               VALUES (?, 'set_password', ?, ?, ?)""",
            tokens,
        )
        tx.touch("action_tokens")
    queued = await enqueue_rows(tx, emails)
    await emit_many(tx, prepared.settings, "user.created", new_users)
    return InsertOutcome(created=created, existing=existing, emails_queued=queued)


Describe = Callable[[InsertOutcome], tuple[str, Mapping[str, Any]]]
"""Turns the outcome into the audit entry's subject and details."""


async def create_accounts(
    store: Store,
    accounts: Sequence[NewAccount],
    options: AccountOptions,
    *,
    actor: str,
    action: AuditAction,
    describe: Describe,
) -> InsertOutcome:
    """Prepare, then write the accounts, their emails and one audit entry in one transaction.

    Once the transaction has started it is shielded from cancellation: it commits or rolls back
    as a whole, never half-way.
    """
    if len(accounts) >= PREPARE_IN_THREAD:
        prepared = await asyncio.to_thread(prepare_accounts, store.settings, accounts, options)
    else:
        prepared = prepare_accounts(store.settings, accounts, options)

    async def write() -> InsertOutcome:
        async with store.write("users") as tx:
            outcome = await insert_accounts(tx, prepared)
            if outcome.created:
                subject, details = describe(outcome)
                await record(tx, actor, action, subject, details)
        return outcome

    return await asyncio.shield(asyncio.ensure_future(write()))
