"""Email invitations: preview a pasted list against the database, send them all at once, look
after them (resend, revoke, a fresh link), and accept one from the emailed link.

The rules that keep it correct:
- Each invitation carries its own token; only its SHA-256 is stored. Resend, re-invite and
  "copy a fresh link" mint a new token, so the old link dies (and an old email not yet sent is
  withdrawn from the outbox: it would carry a dead link).
- A send is one transaction: every invitation and its email commit together, or nothing does.
  Addresses are checked again inside it, so one that got an account since the preview is
  skipped ("already has an account"), never a failed batch.
- Acceptance hashes the password first, then in one short transaction flips the invitation from
  pending to accepted with a conditional UPDATE (same token, unexpired) and creates the account:
  an invitation accepted twice at the same moment makes one account.
- `expired` is derived: a pending invitation whose expiry has passed reads as expired.
- `bounced` is set by the mail delivery worker through `mark_bounced_for_outbox` when our SMTP
  relay refuses the message permanently; only the message carrying the current link counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from store.accounts.acting import require
from store.accounts.audit import record
from store.database.core import Store
from store.database.engine import Row, Transaction
from store.domain.addresses import address_key
from store.domain.clock import db_now, from_db, now, to_db
from store.domain.forms import name_problem, new_password_errors, own_names
from store.domain.languages import checked_language
from store.domain.records import Level, User, from_row, from_rows
from store.domain.refusal import FormRefused, Refused
from store.domain.text import clean_line, like_pattern, paragraphs, text_problem, with_article
from store.domain.tokens import new_token, token_digest
from store.domain.vocabulary import (
    INVITATION_STATUSES,
    LEVELS,
    AuditAction,
    InvitationStatus,
    level_named,
)
from store.messaging.mail_files import follow_in
from store.messaging.outbox import enqueue, outbox_row
from store.messaging.webhooks import emit
from store.onboarding.email_lists import ListEntry, ParsedList, parse_email_list, split_name
from store.service.settings import Settings

__all__ = [
    "INVITATION_VALID",
    "MAX_MESSAGE",
    "STATUSES",
    "AcceptForm",
    "AcceptRefused",
    "AccountExists",
    "Invitation",
    "InvitationError",
    "InvitationStatus",
    "InvitationUnusable",
    "InvitePreview",
    "PendingEntry",
    "SendResult",
    "accept_invitation",
    "accept_url",
    "fresh_invitation_link",
    "get_invitation",
    "has_account",
    "invitation_counts",
    "invitation_for_token",
    "list_invitations",
    "mark_bounced_for_outbox",
    "mark_delivered_for_outbox",
    "mark_delivered_for_outboxes",
    "preview_invitations",
    "preview_text",
    "resend_invitation",
    "revoke_invitation",
    "send_invitations",
    "suggested_names",
]

INVITATION_VALID = timedelta(days=14)
REVOCABLE = ("pending", "bounced")
"""The invitation statuses that can still be revoked (its link may yet be used)."""
MAX_MESSAGE = 2000
"""Longest personal message, in characters (it goes into every email of the batch)."""
EMAIL_KIND = "invitation"
"""The outbox kind: templates `store/messaging/emails/templates/invitation.*`."""
CHUNK = 500
"""Addresses per `IN (…)` lookup (well under SQLite's variable limit)."""

STATUSES = INVITATION_STATUSES
UnusableReason = Literal["unknown", "accepted", "expired", "revoked"]

_UNSENT = "('queued', 'kept', 'failed')"
_STATUS = "CASE WHEN status = 'pending' AND expires_at <= :now THEN 'expired' ELSE status END"
_SELECT = f"""SELECT id, email, name, level, message, {_STATUS} AS status, expires_at, created_by,
                     created_at, accepted_at, sent_at, outbox_id, language
              FROM invitations"""  # noqa: S608 - constant text, no user input


# --- records, results and refusals --------------------------------------------------------------


class Invitation(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    name: str = ""
    level: Level
    message: str = ""
    status: InvitationStatus
    expires_at: datetime
    created_by: str = ""
    created_at: datetime
    accepted_at: datetime | None = None
    sent_at: datetime | None = None
    outbox_id: int | None = None
    language: str | None = None
    """Set by the admin for the batch: the invitation's email and pages are written in it (and
    the account made from it keeps it); None: the invitee's browser decides."""

    @property
    def revocable(self) -> bool:
        """Only an invitation still open can be withdrawn (REVOCABLE)."""
        return self.status in REVOCABLE

    @property
    def last_sent(self) -> datetime:
        """When the current link was issued (first send, resend or fresh link)."""
        return self.sent_at or self.created_at


class PendingEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A pasted address that already has a pending invitation (re-invite it, or skip it)."""

    entry: ListEntry
    invitation_id: int
    sent_at: datetime


class InvitePreview(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed paste checked against the database: who is new, who has an account already,
    who has a pending invitation; `parsed.problems` holds the invalid and duplicate entries."""

    parsed: ParsedList
    new: list[ListEntry]
    existing: list[ListEntry]
    pending: list[PendingEntry]

    def invited_count(self, reinvite: bool) -> int:
        return len(self.new) + (len(self.pending) if reinvite else 0)

    def skipped_count(self, reinvite: bool) -> int:
        """Valid addresses that get no email: duplicates, accounts, pending ones when skipped."""
        skipped = len(self.existing) + len(self.parsed.duplicates)
        return skipped + (0 if reinvite else len(self.pending))

    def entries_to_send(self) -> list[ListEntry]:
        """What `send_invitations` takes: every valid address (it re-checks them itself)."""
        return list(self.parsed.entries)


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    invited: list[ListEntry]
    """New invitations (including ones replacing an expired, revoked or bounced invitation)."""
    reinvited: list[ListEntry]
    """Pending invitations sent again with a new link."""
    existing: list[ListEntry]
    """Skipped: the address has an account (perhaps made since the preview)."""
    skipped_pending: list[ListEntry]
    """Skipped: a pending invitation exists and re-inviting was not asked for."""
    invitation_ids: list[int]

    @property
    def sent(self) -> int:
        return len(self.invited) + len(self.reinvited)

    @property
    def skipped(self) -> int:
        return len(self.existing) + len(self.skipped_pending)


class InvitationError(Refused):
    """An admin action on an invitation cannot be done; the message says why, for people."""


class InvitationUnusable(Exception):
    """The token in the URL leads to no usable invitation. `reason` chooses the page: unknown
    (404) or accepted, expired, revoked (410)."""

    def __init__(self, reason: UnusableReason, *, inviter: str = "") -> None:
        super().__init__(reason)
        self.reason: UnusableReason = reason
        self.inviter = inviter
        """Who sent the invitation (their display name, from the audit actor), for the page."""


class AccountExists(Exception):
    """The invited address has an account already: the person should sign in."""


class AcceptRefused(FormRefused):
    """The acceptance form has problems; `errors` maps field names to messages, in page order."""


class AcceptForm(msgspec.Struct, kw_only=True):
    """The acceptance page's fields. `email` is shown fixed and ignored when posted."""

    email: str = ""
    first_name: str = ""
    last_name: str = ""
    password: str = ""
    password_confirm: str = ""


# --- small helpers ------------------------------------------------------------------------------


def accept_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/invite/{token}"


def suggested_names(invitation: Invitation) -> tuple[str, str]:
    """First and last name guessed from the pasted display name, to pre-fill the form."""
    return split_name(invitation.name)


def _inviter(actor: str) -> str:
    """`alice (ssh 10.0.0.7)` → `alice`: the name shown in the email, without the address.
    Service names say nothing to the invitee: the email then speaks of "the person who
    invited you"."""
    name = actor.partition(" (")[0].strip()
    return "" if name in {"root", "unknown", "usher"} else name


def _human_date(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


Fetch = Callable[[str, Sequence[Any]], Awaitable[list[Row]]]


async def _accounts_among(fetchall: Fetch, addresses: Sequence[str]) -> set[str]:
    """The `address_key`s of `addresses` that have an account."""
    keys: set[str] = set()
    for chunk in _chunks([address_key(address) for address in addresses]):
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT email_key FROM users WHERE email_key IN ({marks})"  # noqa: S608
        rows = await fetchall(sql, chunk)
        keys.update(str(row["email_key"]) for row in rows)
    return keys


class _Open(msgspec.Struct):
    """The newest not-accepted invitation of an address."""

    id: int
    status: str
    sent_at: str
    outbox_id: int | None


async def _open_invitations(fetchall: Fetch, addresses: Sequence[str], at: str) -> dict[str, _Open]:
    found: dict[str, _Open] = {}
    for chunk in _chunks(addresses):
        marks = ",".join("?" * len(chunk))
        rows = await fetchall(
            f"""SELECT id, email, outbox_id, coalesce(sent_at, created_at) AS sent_at,
                       CASE WHEN status = 'pending' AND expires_at <= ? THEN 'expired'
                            ELSE status END AS status
                FROM invitations
                WHERE email IN ({marks}) AND status != 'accepted' ORDER BY id""",  # noqa: S608
            [at, *chunk],
        )
        for row in rows:
            found[address_key(str(row["email"]))] = _Open(
                int(row["id"]), str(row["status"]), str(row["sent_at"]), row["outbox_id"]
            )
    return found


def _check_level(level: str) -> Level:
    named = level_named(level)
    if named is None:
        raise InvitationError(f"unknown level {level!r}: use one of {', '.join(LEVELS)}")
    return named


def _check_message(message: str) -> str:
    problem = text_problem(message)
    if problem:
        raise InvitationError(f"the personal message {problem}")
    cleaned = paragraphs(message)
    if len(cleaned) > MAX_MESSAGE:
        raise InvitationError(
            f"the personal message is {len(cleaned)} characters long; the limit is {MAX_MESSAGE}"
        )
    return cleaned


def _email_values(
    settings: Settings,
    *,
    invitation_id: int,
    name: str,
    level: str,
    message: str,
    inviter: str,
    token: str,
    expires: datetime,
) -> dict[str, Any]:
    """What the `invitation` templates get (plus org, public_url, recipient, recipient_name)."""
    return {
        "invitation_id": invitation_id,
        "first_name": split_name(name)[0],
        "level": level,
        "level_words": with_article(level),
        "message": message,
        "inviter": inviter,
        "accept_url": accept_url(settings, token),
        "expires": _human_date(expires),
        "expires_at": to_db(expires),
        "valid_days": INVITATION_VALID.days,
    }


def _outbox_row(
    settings: Settings,
    outbox_id: int,
    to: str,
    name: str,
    values: dict[str, Any],
    at: str,
    language: str | None = None,
) -> tuple[Any, ...]:
    """One outbox row (`store.messaging.outbox.outbox_row`) with its id chosen by us in front (the
    batch insert cannot return ids, and the invitation must point at its message). The invitee has
    no account yet: the batch's `language` is theirs."""
    secret = ("accept_url",)
    row = outbox_row(
        settings,
        to=to,
        kind=EMAIL_KIND,
        values=values,
        name=name,
        secret_keys=secret,
        now=at,
        language=language,
    )
    return (outbox_id, *row)


async def _next_id(tx: Transaction, table: Literal["invitations", "outbox"]) -> int:
    """The id SQLite would give the next row. Safe to use for a batch: the write transaction
    (BEGIN IMMEDIATE) keeps every other writer, in any process, out until we commit."""
    row = await tx.fetchone(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")  # noqa: S608
    return int(row[0]) if row else 1


async def _withdraw_unsent(
    tx: Transaction, settings: Settings, outbox_ids: Iterable[int | None]
) -> None:
    """Drop superseded emails that were not sent yet (their link no longer works), and their
    `USHER_MAIL_DIR` copies once committed. A message being sent right now (`sending`, under a
    lease) is left to finish."""
    ids = [i for i in outbox_ids if i is not None]
    if ids:
        sql = (
            "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?)) "  # noqa: S608
            f"AND status IN {_UNSENT} RETURNING id"
        )
        removed = await tx.fetchall(sql, (msgspec.json.encode(ids).decode(),))
        follow_in(tx, settings, removed=[int(row["id"]) for row in removed])
        tx.touch("outbox")


# --- preview and send ---------------------------------------------------------------------------


async def preview_invitations(store: Store, parsed: ParsedList) -> InvitePreview:
    """Check parsed entries against accounts and invitations (read connection, no lock)."""
    addresses = [entry.address for entry in parsed.entries]
    accounts = await _accounts_among(store.engine.fetchall, addresses)
    open_ = await _open_invitations(store.engine.fetchall, addresses, db_now())
    new: list[ListEntry] = []
    existing: list[ListEntry] = []
    pending: list[PendingEntry] = []
    for entry in parsed.entries:
        key = address_key(entry.address)
        found = open_.get(key)
        if key in accounts:
            existing.append(entry)
        elif found is not None and found.status == "pending":
            pending.append(
                PendingEntry(entry=entry, invitation_id=found.id, sent_at=from_db(found.sent_at))
            )
        else:
            new.append(entry)
    return InvitePreview(parsed=parsed, new=new, existing=existing, pending=pending)


async def preview_text(store: Store, text: str) -> InvitePreview:
    """Parse in a worker thread (a big paste must not stall the loop), then check."""
    parsed = await asyncio.to_thread(parse_email_list, text)
    return await preview_invitations(store, parsed)


async def send_invitations(
    store: Store,
    entries: Sequence[ListEntry],
    *,
    level: str,
    actor: str,
    message: str = "",
    reinvite: bool = False,
    valid: timedelta = INVITATION_VALID,
    language: str | None = None,
) -> SendResult:
    """Invite every entry in one transaction: invitations, their emails and the audit entry.

    Entries whose address has an account are skipped; a pending invitation is re-sent with a
    new link when `reinvite`, else skipped; an expired, revoked or bounced one is replaced.
    `language` (a shipped code, None: the invitee's browser decides) is stored on each
    invitation and its email is written in it.
    """
    require("invitations")
    checked_level = _check_level(level)
    try:
        written_in = checked_language(language)
    except ValueError as error:
        raise InvitationError(str(error)) from None
    cleaned = _check_message(message)
    batch = _one_per_address(entries)
    tokens = [new_token() for _ in batch]
    addresses = [entry.address for entry in batch]
    async with store.write("invitations", "outbox", "audit") as tx:
        moment = now()
        at = to_db(moment)
        accounts = await _accounts_among(tx.fetchall, addresses)
        open_ = await _open_invitations(tx.fetchall, addresses, at)
        plan = _SendPlan(
            settings=store.settings,
            level=checked_level,
            message=cleaned,
            language=written_in,
            actor=actor,
            inviter=_inviter(actor),
            at=at,
            expires=moment + valid,
            next_invitation=await _next_id(tx, "invitations"),
            next_outbox=await _next_id(tx, "outbox"),
        )
        for entry, token in zip(batch, tokens, strict=True):
            key = address_key(entry.address)
            found = open_.get(key)
            if key in accounts:
                plan.existing.append(entry)
            elif found is not None and found.status == "pending" and not reinvite:
                plan.skipped_pending.append(entry)
            else:
                plan.invite(entry, token, found)
        await _write_plan(tx, plan)
        if plan.ids:
            await _record_sent(tx, plan)
    return SendResult(
        invited=plan.invited,
        reinvited=plan.reinvited,
        existing=plan.existing,
        skipped_pending=plan.skipped_pending,
        invitation_ids=plan.ids,
    )


def _one_per_address(entries: Sequence[ListEntry]) -> list[ListEntry]:
    """The entries, the first of each address (compared as `address_key` does)."""
    unique: dict[str, ListEntry] = {}
    for entry in entries:
        unique.setdefault(address_key(entry.address), entry)
    return list(unique.values())


@dataclass(kw_only=True)
class _SendPlan:
    """One send decided entry by entry before anything is written: the rows to insert or
    update (ids chosen by us: the write transaction keeps other writers out) and who is
    invited, re-invited or skipped, for the result and the audit entry."""

    settings: Settings
    level: Level
    message: str
    language: str | None
    actor: str
    inviter: str
    at: str
    expires: datetime
    next_invitation: int
    next_outbox: int
    invited: list[ListEntry] = field(default_factory=list)
    reinvited: list[ListEntry] = field(default_factory=list)
    existing: list[ListEntry] = field(default_factory=list)
    skipped_pending: list[ListEntry] = field(default_factory=list)
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    outbox_rows: list[tuple[Any, ...]] = field(default_factory=list)
    superseded: list[int | None] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)

    def invite(self, entry: ListEntry, token: str, found: _Open | None) -> None:
        """A new invitation for `entry`, or its earlier one (expired, revoked, bounced, or
        pending when re-inviting) given a new link; either way one new email."""
        expires_db = to_db(self.expires)
        outbox_id = self.next_outbox
        self.next_outbox += 1
        if found is None:
            invitation_id = self.next_invitation
            self.next_invitation += 1
            self.invited.append(entry)
            self.inserts.append(
                (
                    invitation_id,
                    entry.address,
                    entry.name,
                    self.level,
                    self.message,
                    token_digest(token),
                    expires_db,
                    self.actor,
                    self.at,
                    self.at,
                    outbox_id,
                    self.language,
                )
            )
        else:
            invitation_id = found.id
            (self.reinvited if found.status == "pending" else self.invited).append(entry)
            self.superseded.append(found.outbox_id)
            self.updates.append(
                (
                    entry.name,
                    self.level,
                    self.message,
                    token_digest(token),
                    expires_db,
                    self.at,
                    outbox_id,
                    self.language,
                    invitation_id,
                )
            )
        self.ids.append(invitation_id)
        values = _email_values(
            self.settings,
            invitation_id=invitation_id,
            name=entry.name,
            level=self.level,
            message=self.message,
            inviter=self.inviter,
            token=token,
            expires=self.expires,
        )
        self.outbox_rows.append(
            _outbox_row(
                self.settings, outbox_id, entry.address, entry.name, values, self.at, self.language
            )
        )


async def _write_plan(tx: Transaction, plan: _SendPlan) -> None:
    """The plan's rows, one statement per kind, and the unsent emails it supersedes withdrawn."""
    if plan.outbox_rows:
        await tx.executemany(
            """INSERT INTO outbox (id, recipient, recipient_name, kind, payload, status,
                                   next_attempt_at, message_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            plan.outbox_rows,
        )
    if plan.inserts:
        await tx.executemany(
            """INSERT INTO invitations (id, email, name, level, message, status, token_hash,
                                        expires_at, created_by, created_at, sent_at,
                                        outbox_id, language)
               VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)""",
            plan.inserts,
        )
    if plan.updates:
        await tx.executemany(
            """UPDATE invitations
               SET name = ?, level = ?, message = ?, status = 'pending', token_hash = ?,
                   expires_at = ?, sent_at = ?, outbox_id = ?, language = ?, accepted_at = NULL
               WHERE id = ? AND status != 'accepted'""",
            plan.updates,
        )
    await _withdraw_unsent(tx, plan.settings, plan.superseded)


async def _record_sent(tx: Transaction, plan: _SendPlan) -> None:
    """One audit entry for the whole send."""
    count = len(plan.ids)
    await record(
        tx,
        plan.actor,
        "invitations_sent",
        f"{count} {'person' if count == 1 else 'people'} as {plan.level}",
        {
            "level": plan.level,
            "invited": len(plan.invited),
            "reinvited": len(plan.reinvited),
            "skipped_existing": len(plan.existing),
            "skipped_pending": len(plan.skipped_pending),
            "message": bool(plan.message),
            "language": plan.language,
            "addresses": [entry.address for entry in (*plan.invited, *plan.reinvited)],
        },
    )


# --- reading ------------------------------------------------------------------------------------


async def list_invitations(
    store: Store,
    *,
    status: InvitationStatus | None = None,
    search: str = "",
    limit: int = 1000,
) -> list[Invitation]:
    """Newest issued first; `status` filters by (derived) status, `search` by email or name."""
    where: list[str] = []
    params: dict[str, Any] = {"now": db_now(), "limit": limit}
    if status is not None:
        where.append(f"({_STATUS}) = :status")
        params["status"] = status
    if search.strip():
        where.append("(email LIKE :like ESCAPE '\\' OR name LIKE :like ESCAPE '\\')")
        params["like"] = like_pattern(search.strip())
    sql = _SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY coalesce(sent_at, created_at) DESC, id DESC LIMIT :limit"
    return from_rows(await store.engine.fetchall(sql, params), Invitation)


async def invitation_counts(store: Store) -> dict[InvitationStatus, int]:
    """How many invitations have each status (every status present, zero when none)."""
    rows = await store.engine.fetchall(
        f"SELECT {_STATUS} AS s, count(*) AS n FROM invitations GROUP BY s",  # noqa: S608
        {"now": db_now()},
    )
    counts: dict[InvitationStatus, int] = dict.fromkeys(STATUSES, 0)
    for row in rows:
        if row["s"] in counts:
            counts[row["s"]] = int(row["n"])
    return counts


async def get_invitation(store: Store, invitation_id: int) -> Invitation | None:
    row = await store.engine.fetchone(
        _SELECT + " WHERE id = :id", {"now": db_now(), "id": invitation_id}
    )
    return from_row(row, Invitation) if row else None


async def _invitation_in(tx: Transaction, invitation_id: int) -> Invitation:
    row = await tx.fetchone(_SELECT + " WHERE id = :id", {"now": db_now(), "id": invitation_id})
    if row is None:
        raise InvitationError(f"invitation {invitation_id} does not exist")
    return from_row(row, Invitation)


# --- resend, revoke, fresh link -----------------------------------------------------------------


async def _reissue(
    store: Store,
    invitation_id: int,
    *,
    actor: str,
    valid: timedelta,
    send_email: bool,
    action: AuditAction,
) -> tuple[Invitation, str]:
    """A new token and expiry for a not-accepted invitation (its old link dies), with a new
    email when `send_email`; returns the invitation as it is now and the new token."""
    token = new_token()
    async with store.write("invitations", "outbox", "audit") as tx:
        invitation = await _invitation_in(tx, invitation_id)
        if invitation.status == "accepted":
            raise InvitationError(f"{invitation.email} has already accepted this invitation")
        if await _accounts_among(tx.fetchall, [invitation.email]):
            raise InvitationError(f"{invitation.email} already has an account")
        moment = now()
        expires = moment + valid
        outbox_id: int | None = None
        if send_email:
            values = _email_values(
                store.settings,
                invitation_id=invitation.id,
                name=invitation.name,
                level=invitation.level,
                message=invitation.message,
                inviter=_inviter(actor),
                token=token,
                expires=expires,
            )
            outbox_id = await enqueue(
                tx,
                store.settings,
                to=invitation.email,
                kind=EMAIL_KIND,
                values=values,
                name=invitation.name,
                secret_keys=["accept_url"],
                language=invitation.language,
            )
        await tx.execute(
            """UPDATE invitations
               SET token_hash = ?, expires_at = ?, status = 'pending', sent_at = ?, outbox_id = ?
               WHERE id = ? AND status != 'accepted'""",
            (token_digest(token), to_db(expires), to_db(moment), outbox_id, invitation.id),
        )
        await _withdraw_unsent(tx, store.settings, [invitation.outbox_id])
        await record(
            tx,
            actor,
            action,
            invitation.email,
            {
                "invitation_id": invitation.id,
                "was": invitation.status,
                "expires_at": to_db(expires),
            },
        )
        current = await _invitation_in(tx, invitation.id)
    return current, token


async def resend_invitation(
    store: Store, invitation_id: int, *, actor: str, valid: timedelta = INVITATION_VALID
) -> Invitation:
    """A new email with a new link and a fresh expiry (also after it expired, bounced or was
    revoked); the old link stops working."""
    require("invitations")
    invitation, _ = await _reissue(
        store, invitation_id, actor=actor, valid=valid, send_email=True, action="invitation_resent"
    )
    return invitation


async def fresh_invitation_link(
    store: Store, invitation_id: int, *, actor: str, valid: timedelta = INVITATION_VALID
) -> tuple[Invitation, str]:
    """Mint a new link to pass on by hand (only the token's hash is stored, so the old link —
    the emailed one — stops working). Returns the invitation and the URL."""
    require("invitations")
    invitation, token = await _reissue(
        store,
        invitation_id,
        actor=actor,
        valid=valid,
        send_email=False,
        action="invitation_link_copied",
    )
    return invitation, accept_url(store.settings, token)


async def revoke_invitation(store: Store, invitation_id: int, *, actor: str) -> Invitation:
    """Withdraw a pending (or bounced) invitation: its link stops working at once."""
    require("invitations")
    async with store.write("invitations", "outbox", "audit") as tx:
        invitation = await _invitation_in(tx, invitation_id)
        changed = await tx.execute(
            "UPDATE invitations SET status = 'revoked', outbox_id = NULL"
            " WHERE id = ? AND status IN (?, ?)",
            (invitation.id, *REVOCABLE),
        )
        if not changed:
            raise InvitationError(f"{invitation.email}'s invitation is already {invitation.status}")
        await _withdraw_unsent(tx, store.settings, [invitation.outbox_id])
        await record(
            tx,
            actor,
            "invitation_revoked",
            invitation.email,
            {"invitation_id": invitation.id, "was": invitation.status},
        )
        return await _invitation_in(tx, invitation.id)


async def mark_bounced_for_outbox(
    tx: Transaction, outbox_id: int, *, reason: str = "", actor: str = "mail delivery"
) -> int | None:
    """For the delivery worker, inside its transaction: our SMTP relay refused outbox message
    `outbox_id` permanently. If it carries an invitation's current link and the invitation is
    still pending, mark it bounced; returns the invitation id, or None when nothing changed."""
    row = await tx.fetchone(
        "SELECT id, email FROM invitations WHERE outbox_id = ? AND status = 'pending'",
        (outbox_id,),
    )
    if row is None:
        return None
    await tx.execute("UPDATE invitations SET status = 'bounced' WHERE id = ?", (row["id"],))
    tx.touch("invitations")
    await record(
        tx,
        actor,
        "invitation_bounced",
        str(row["email"]),
        {"invitation_id": int(row["id"]), "outbox_id": outbox_id, "reason": clean_line(reason)},
    )
    return int(row["id"])


async def mark_delivered_for_outbox(tx: Transaction, outbox_id: int) -> int | None:
    """For the delivery worker, inside its transaction: outbox message `outbox_id` was accepted
    by the relay. An invitation marked bounced by an earlier refusal of that same message (then
    retried from the Outbox screen) is pending again; returns its id, or None."""
    row = await tx.fetchone(
        "SELECT id FROM invitations WHERE outbox_id = ? AND status = 'bounced'", (outbox_id,)
    )
    if row is None:
        return None
    await tx.execute("UPDATE invitations SET status = 'pending' WHERE id = ?", (row["id"],))
    tx.touch("invitations")
    return int(row["id"])


async def mark_delivered_for_outboxes(tx: Transaction, outbox_ids: Sequence[int]) -> list[int]:
    """`mark_delivered_for_outbox` for a batch of accepted messages, in one statement; returns
    the ids of the invitations that are pending again (almost always none)."""
    if not outbox_ids:
        return []
    rows = await tx.fetchall(
        """UPDATE invitations SET status = 'pending'
            WHERE status = 'bounced' AND outbox_id IN (SELECT value FROM json_each(?))
        RETURNING id""",
        (msgspec.json.encode(list(outbox_ids)).decode(),),
    )
    if rows:
        tx.touch("invitations")
    return [int(row["id"]) for row in rows]


# --- acceptance ---------------------------------------------------------------------------------


def _unusable_reason(status: str) -> UnusableReason:
    if status == "accepted":
        return "accepted"
    if status == "expired":
        return "expired"
    return "revoked"  # revoked, or bounced: the link in that email was never delivered


async def invitation_for_token(store: Store, token: str) -> Invitation:
    """The pending, unexpired invitation `token` belongs to, or InvitationUnusable."""
    if not token or len(token) > 200:
        raise InvitationUnusable("unknown")
    row = await store.engine.fetchone(
        _SELECT + " WHERE token_hash = :digest", {"now": db_now(), "digest": token_digest(token)}
    )
    if row is None:
        raise InvitationUnusable("unknown")
    invitation = from_row(row, Invitation)
    if invitation.status != "pending":
        raise InvitationUnusable(
            _unusable_reason(invitation.status), inviter=_inviter(invitation.created_by)
        )
    return invitation


async def has_account(store: Store, email: str) -> bool:
    return bool(await _accounts_among(store.engine.fetchall, [email]))


async def _form_errors(
    store: Store, invitation: Invitation, form: AcceptForm
) -> tuple[str, str, dict[str, str]]:
    errors: dict[str, str] = {}
    first = name_problem(form.first_name, "first name", errors, "first_name")
    last = name_problem(form.last_name, "last name", errors, "last_name", required=False)
    await new_password_errors(
        form.password,
        form.password_confirm,
        email=invitation.email,
        names=own_names(first, last),
        org=store.settings.org,
        errors=errors,
    )
    return first, last, errors


async def accept_invitation(
    store: Store, token: str, form: AcceptForm, *, actor: str, language: str | None = None
) -> User:
    """Create the invited person's account, active at once (the admin chose them).

    The account keeps `language`, the one the page was read in (the invitation's unless the
    invitee switched), else the invitation's own.

    Raises InvitationUnusable (used, expired, revoked, unknown — also when another request
    accepted it a moment ago), AccountExists (the address has an account: sign in instead) or
    AcceptRefused (the form's problems).
    """
    invitation = await invitation_for_token(store, token)
    if await has_account(store, invitation.email):
        raise AccountExists(invitation.email)
    first, last, errors = await _form_errors(store, invitation, form)
    if errors:
        raise AcceptRefused(errors)
    password_hash = await store.hasher.hash(form.password)
    async with store.write("invitations", "users", "audit") as tx:
        at = db_now()
        changed = await tx.execute(
            """UPDATE invitations SET status = 'accepted', accepted_at = :now
               WHERE id = :id AND token_hash = :digest AND status = 'pending'
                 AND expires_at > :now""",
            {"now": at, "id": invitation.id, "digest": token_digest(token)},
        )
        if changed != 1:
            row = await tx.fetchone(
                _SELECT + " WHERE token_hash = :digest", {"now": at, "digest": token_digest(token)}
            )
            status = str(row["status"]) if row else "unknown"
            raise InvitationUnusable("unknown" if row is None else _unusable_reason(status))
        user_id = await tx.execute(
            """INSERT INTO users (email, email_key, first_name, last_name, level, status,
                                  password_hash, source, invitation_id, created_at, updated_at,
                                  confirmed_at, language)
               VALUES (?, ?, ?, ?, ?, 'active', ?, 'invitation', ?, ?, ?, ?, ?)
               ON CONFLICT DO NOTHING""",
            (invitation.email, address_key(invitation.email), first, last, invitation.level)
            + (password_hash, invitation.id)
            + (at,) * 3
            + (language or invitation.language,),
        )
        if not user_id:
            raise AccountExists(invitation.email)  # made a moment ago: nothing is written
        await record(
            tx,
            actor,
            "invitation_accepted",
            invitation.email,
            {"invitation_id": invitation.id, "user_id": user_id, "level": invitation.level},
        )
        row = await tx.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        await emit(tx, store.settings, "user.created", row)
    assert row is not None
    return from_row(row, User)
