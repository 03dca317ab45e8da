"""Invite links: made by an admin, shared freely, used by anyone who has them to sign up.

A link's token is meant to be shown again (copy, QR code), so it is stored as is. Everything a
link allows - the level, approval, confirmation, expiry, the cap on uses, the allowed domains -
is decided here; the console, the CLI and the signup server only present it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal, cast

import idna
import msgspec

from store.accounts.acting import require
from store.accounts.audit import record
from store.database.core import Store
from store.database.engine import Row, Transaction
from store.domain.clock import ago, db_now, from_db, now, to_db
from store.domain.languages import checked_language
from store.domain.records import Level, User, from_rows
from store.domain.refusal import Refused
from store.domain.text import one_line, text_problem
from store.domain.tokens import new_token
from store.domain.vocabulary import LEVELS, level_named
from store.service.settings import Settings

__all__ = [
    "DEFAULT_EXPIRY",
    "EXPIRY_CHOICES",
    "Link",
    "LinkDraft",
    "LinkError",
    "LinkState",
    "create_link",
    "domain_allowed",
    "edit_link",
    "expiry_words",
    "format_domains",
    "get_link",
    "link_by_token",
    "link_members",
    "link_url",
    "list_links",
    "parse_domains",
    "parse_expiry",
    "parse_level",
    "parse_max_uses",
    "regenerate_link",
    "revoke_link",
]

LinkState = Literal["active", "expired", "used up", "revoked"]

DEFAULT_EXPIRY = timedelta(days=30)
MAX_EXPIRY = timedelta(days=3650)
MAX_LABEL = 100
MAX_USES_LIMIT = 1_000_000
LINK_PASSWORD_MIN = 4
LINK_PASSWORD_MAX = 128

EXPIRY_CHOICES: list[tuple[str, str]] = [
    ("12 hours", "12h"),
    ("1 day", "1d"),
    ("7 days", "7d"),
    ("2 weeks", "2w"),
    ("30 days", "30d"),
    ("90 days", "90d"),
    ("1 year", "1y"),
    ("Never", "never"),
]
"""(label, `parse_expiry` text) offered by the console; the CLI takes any `parse_expiry` text."""


class LinkError(Refused, ValueError):
    """A link cannot be made or changed as asked; the message is for people, as is."""


class Link(msgspec.Struct, frozen=True, kw_only=True):
    """An invite link as the faces see it (the password's hash never leaves the store)."""

    id: int
    token: str
    label: str
    level: Level
    has_password: bool
    auto_accept: bool
    confirm_email: bool
    domains: tuple[str, ...]
    max_uses: int | None
    uses: int
    expires_at: datetime | None
    revoked_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime | None = None
    language: str | None = None
    """The language its pages and emails are written in unless the invitee switches; None: the
    invitee's browser decides (`store.domain.languages.choose`)."""

    def state(self, at: datetime | None = None) -> LinkState:
        """Revoked wins over expired, which wins over used up."""
        moment = at or now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= moment:
            return "expired"
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "used up"
        return "active"

    def is_usable(self, at: datetime | None = None) -> bool:
        return self.state(at) == "active"

    @property
    def join_mode(self) -> str:
        """`auto`, `approval`, with ` · password` when the link has one."""
        mode = "auto" if self.auto_accept else "approval"
        return f"{mode} · password" if self.has_password else mode

    @property
    def uses_text(self) -> str:
        """`12 of 50` or `88`."""
        return f"{self.uses} of {self.max_uses}" if self.max_uses is not None else str(self.uses)

    def expires_text(self, at: datetime | None = None) -> str:
        """For the Expires column: `in 9 days`, `never`, `2 days ago`."""
        if self.expires_at is None:
            return "never"
        moment = at or now()
        if self.expires_at <= moment:
            return ago(self.expires_at, moment)
        return "in " + expiry_words(self.expires_at - moment)

    def summary(self, at: datetime | None = None) -> str:
        """`12 of 50 uses · expires in 9 days`, `88 uses · never expires`."""
        count = self.uses if self.max_uses is None else self.max_uses
        uses = f"{self.uses_text} use{'' if count == 1 else 's'}"
        if self.expires_at is None:
            return f"{uses} · never expires"
        moment = at or now()
        if self.expires_at <= moment:
            return f"{uses} · expired {ago(self.expires_at, moment)}"
        return f"{uses} · expires in {expiry_words(self.expires_at - moment)}"

    def url(self, settings: Settings) -> str:
        return link_url(settings, self.token)


class LinkDraft(msgspec.Struct, kw_only=True):
    """What an admin asks for when creating (or editing) a link.

    `password` None means no link password; when editing, `keep_password` leaves the current
    one as it is and `keep_expiry` leaves the expiry alone. `expires_in` None means never.
    """

    label: str = ""
    level: Level = "member"
    password: str | None = None
    keep_password: bool = False
    auto_accept: bool = True
    confirm_email: bool = True
    expires_in: timedelta | None = DEFAULT_EXPIRY
    keep_expiry: bool = False
    max_uses: int | None = None
    domains: tuple[str, ...] = ()
    allow_unconfirmed_domains: bool = False
    """The admin's explicit consent to `domains` without `confirm_email` (see _check_draft)."""
    language: str | None = None
    """A shipped language code the link's pages and emails are written in; None: the browser's."""


# --- parsing what admins type ------------------------------------------------------------------

_EXPIRY = re.compile(
    r"^\s*(\d+)\s*(h|hrs?|hours?|d|days?|w|wks?|weeks?|y|yrs?|years?)\s*$", re.IGNORECASE
)
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7, "y": 24 * 365}


def parse_expiry(text: str) -> timedelta | None:
    """`30d`, `12h`, `2w`, `1y`, `10 days` → a duration; `never` → None (the link never expires)."""
    cleaned = text.strip().lower()
    if cleaned in {"never", "none", "no", "0"}:
        return None
    match = _EXPIRY.match(cleaned)
    if not match:
        raise LinkError(
            f"expiry {text.strip()!r} not understood: use e.g. 12h, 30d, 2w, 1y or never"
        )
    amount = int(match.group(1))
    if amount < 1:
        raise LinkError("expiry must be at least 1 hour (or never)")
    duration = timedelta(hours=amount * _UNIT_HOURS[match.group(2)[0].lower()])
    if duration > MAX_EXPIRY:
        raise LinkError("expiry can be at most 10 years (or never)")
    return duration


def parse_level(text: str) -> Level:
    level = level_named(text.strip().lower())
    if level is None:
        raise LinkError(f"level {text.strip()!r} is not one of: {', '.join(LEVELS)}")
    return level


def parse_max_uses(text: str) -> int | None:
    """Empty → no cap; otherwise a whole number from 1."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    if not cleaned:
        return None
    if not cleaned.isdigit() or int(cleaned) < 1:
        raise LinkError("max uses must be a whole number from 1 (or empty for no cap)")
    if int(cleaned) > MAX_USES_LIMIT:
        raise LinkError(f"max uses can be at most {MAX_USES_LIMIT:,}")
    return int(cleaned)


def _ascii_domain(text: str) -> str:
    try:
        encoded = idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise LinkError(f"{text!r} is not a domain name") from None
    if "." not in encoded or encoded.startswith(".") or encoded.endswith("."):
        raise LinkError(f"{text!r} is not a domain name (it needs a dot, like acme.org)")
    return encoded.lower()


def parse_domains(text: str) -> tuple[str, ...]:
    """`acme.org, *.acme.org` → ('acme.org', '*.acme.org'): commas, semicolons or spaces between,
    IDN names stored in their ASCII form, duplicates dropped. Empty means any domain."""
    found: list[str] = []
    for part in re.split(r"[,;\s]+", text.strip()):
        entry = part.strip().lstrip("@").lower()
        if not entry:
            continue
        wildcard = entry.startswith("*.")
        name = entry[2:] if wildcard else entry
        if "*" in name or "@" in name:
            raise LinkError(f"{part!r}: write a domain as acme.org, or *.acme.org for subdomains")
        domain = ("*." if wildcard else "") + _ascii_domain(name)
        if domain not in found:
            found.append(domain)
    return tuple(found)


def format_domains(domains: tuple[str, ...]) -> str:
    return ", ".join(domains)


def domain_allowed(domains: tuple[str, ...], email_domain: str) -> bool:
    """`acme.org` allows exactly that domain; `*.acme.org` allows any subdomain of it.

    `email_domain` may be in Unicode or ASCII form: both sides are compared in ASCII."""
    if not domains:
        return True
    try:
        domain = _ascii_domain(email_domain.rstrip("."))
    except LinkError:
        return False
    for allowed in domains:
        if allowed.startswith("*."):
            if domain.endswith(allowed[1:]):
                return True
        elif domain == allowed:
            return True
    return False


def expiry_words(delta: timedelta) -> str:
    """A duration for people: `40 min`, `12 hours`, `9 days`."""
    seconds = max(0, delta.total_seconds())
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 48 * 3600:
        hours = round(seconds / 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{round(seconds / 86400)} days"


def link_url(settings: Settings, token: str) -> str:
    """Built from the configured public URL, never from a request's Host header."""
    return f"{settings.base_url}/join/{token}"


# --- reading -----------------------------------------------------------------------------------


def _opt_time(value: object) -> datetime | None:
    return from_db(str(value)) if value else None


def link_from_row(row: Row) -> Link:
    domains = msgspec.json.decode(row["domains"] or "[]", type=list[str])
    return Link(
        id=int(row["id"]),
        token=str(row["token"]),
        label=str(row["label"]),
        level=cast(Level, row["level"]),
        has_password=bool(row["password_hash"]),
        auto_accept=bool(row["auto_accept"]),
        confirm_email=bool(row["confirm_email"]),
        domains=tuple(domains),
        max_uses=None if row["max_uses"] is None else int(row["max_uses"]),
        uses=int(row["uses"]),
        expires_at=_opt_time(row["expires_at"]),
        revoked_at=_opt_time(row["revoked_at"]),
        created_by=str(row["created_by"]),
        created_at=from_db(str(row["created_at"])),
        updated_at=_opt_time(row["updated_at"]),
        language=row["language"] or None,
    )


async def list_links(store: Store) -> list[Link]:
    """Every link, newest first."""
    rows = await store.engine.fetchall("SELECT * FROM invite_links ORDER BY id DESC")
    return [link_from_row(row) for row in rows]


async def get_link(store: Store, link_id: int) -> Link | None:
    row = await store.engine.fetchone("SELECT * FROM invite_links WHERE id = ?", (link_id,))
    return None if row is None else link_from_row(row)


async def link_by_token(store: Store, token: str) -> Link | None:
    row = await store.engine.fetchone("SELECT * FROM invite_links WHERE token = ?", (token,))
    return None if row is None else link_from_row(row)


async def link_password_hash(store: Store, link_id: int) -> str | None:
    value = await store.engine.scalar(
        "SELECT password_hash FROM invite_links WHERE id = ?", (link_id,)
    )
    return None if value is None else str(value)


async def link_members(store: Store, link_id: int) -> list[User]:
    """Who joined through the link, newest first (also after it was regenerated)."""
    rows = await store.engine.fetchall(
        "SELECT * FROM users WHERE link_id = ? ORDER BY created_at DESC, id DESC", (link_id,)
    )
    return from_rows(rows, User)


# --- changing ----------------------------------------------------------------------------------


UNCONFIRMED_DOMAINS_REFUSED = (
    "a link limited to domains must ask people to confirm their address: without it, anyone "
    "holding the link can sign up as any address there (say, ceo@ at your domain). Give "
    "explicit consent (--allow-unconfirmed-domains) only if you trust everyone who may see it"
)
"""Why domains without confirmation prove nothing, for CLI errors and the console's warning."""


def _checked_label(label: str) -> str:
    problem = text_problem(label)
    if problem:
        raise LinkError(f"the label {problem}")
    cleaned = one_line(label)
    if len(cleaned) > MAX_LABEL:
        raise LinkError(f"the label can be at most {MAX_LABEL} characters")
    return cleaned


def _checked_password(password: str) -> str:
    if len(password) < LINK_PASSWORD_MIN:
        raise LinkError(f"the link password needs at least {LINK_PASSWORD_MIN} characters")
    if len(password) > LINK_PASSWORD_MAX:
        raise LinkError(f"the link password can be at most {LINK_PASSWORD_MAX} characters")
    return password


def _check_draft(draft: LinkDraft) -> None:
    parse_level(draft.level)
    if draft.max_uses is not None and not 1 <= draft.max_uses <= MAX_USES_LIMIT:
        raise LinkError("max uses must be a whole number from 1 (or empty for no cap)")
    if draft.expires_in is not None and not timedelta(0) < draft.expires_in <= MAX_EXPIRY:
        raise LinkError("expiry must be between 1 hour and 10 years (or never)")
    for domain in draft.domains:
        parse_domains(domain)
    if draft.domains and not draft.confirm_email and not draft.allow_unconfirmed_domains:
        raise LinkError(UNCONFIRMED_DOMAINS_REFUSED)
    try:
        checked_language(draft.language)
    except ValueError as error:
        raise LinkError(str(error)) from None


def _audit_details(draft: LinkDraft) -> dict[str, object]:
    return {
        "level": draft.level,
        "auto_accept": draft.auto_accept,
        "confirm_email": draft.confirm_email,
        "password": draft.password is not None,
        "max_uses": draft.max_uses,
        "expires_in_hours": None
        if draft.expires_in is None
        else round(draft.expires_in.total_seconds() / 3600),
        "domains": list(draft.domains),
        "language": checked_language(draft.language),
    }


def _subject(link_id: int, label: str) -> str:
    return f"link #{link_id} {label!r}" if label else f"link #{link_id}"


async def create_link(store: Store, draft: LinkDraft, *, actor: str) -> Link:
    """Create a link; its password (if any) is hashed before the write transaction."""
    require("links")
    label = _checked_label(draft.label)
    _check_draft(draft)
    password_hash = None
    if draft.password is not None:
        password_hash = await store.hasher.hash(_checked_password(draft.password))
    created = db_now()
    expires_at = None if draft.expires_in is None else to_db(now() + draft.expires_in)
    async with store.write("invite_links") as tx:
        link_id = await tx.execute(
            """INSERT INTO invite_links (token, label, level, password_hash, auto_accept,
                   confirm_email, domains, max_uses, uses, expires_at, created_by, created_at,
                   updated_at, language)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)""",
            (
                new_token(),
                label,
                draft.level,
                password_hash,
                int(draft.auto_accept),
                int(draft.confirm_email),
                msgspec.json.encode(list(draft.domains)).decode(),
                draft.max_uses,
                expires_at,
                actor,
                created,
                created,
                checked_language(draft.language),
            ),
        )
        await record(tx, actor, "link_created", _subject(link_id, label), _audit_details(draft))
        row = await _existing(tx, link_id)
    return link_from_row(row)


async def _existing(tx: Transaction, link_id: int) -> Row:
    """The link's row, read inside the caller's write, or a refusal naming the id."""
    row = await tx.fetchone("SELECT * FROM invite_links WHERE id = ?", (link_id,))
    if row is None:
        raise LinkError(f"there is no link #{link_id}")
    return row


async def edit_link(store: Store, link_id: int, draft: LinkDraft, *, actor: str) -> Link:
    """Change a link's settings; its URL and use count stay. A revoked link stays revoked."""
    require("links")
    label = _checked_label(draft.label)
    _check_draft(draft)
    password_hash = None
    if draft.password is not None and not draft.keep_password:
        password_hash = await store.hasher.hash(_checked_password(draft.password))
    async with store.write("invite_links") as tx:
        row = await _existing(tx, link_id)
        if draft.keep_password:
            password_hash = row["password_hash"]
        if draft.keep_expiry:
            expires_at = row["expires_at"]
        else:
            expires_at = None if draft.expires_in is None else to_db(now() + draft.expires_in)
        await tx.execute(
            """UPDATE invite_links SET label = ?, level = ?, password_hash = ?, auto_accept = ?,
                   confirm_email = ?, domains = ?, max_uses = ?, expires_at = ?, updated_at = ?,
                   language = ?
               WHERE id = ?""",
            (
                label,
                draft.level,
                password_hash,
                int(draft.auto_accept),
                int(draft.confirm_email),
                msgspec.json.encode(list(draft.domains)).decode(),
                draft.max_uses,
                expires_at,
                db_now(),
                checked_language(draft.language),
                link_id,
            ),
        )
        details = _audit_details(draft)
        details["password"] = password_hash is not None
        if draft.keep_expiry:
            details.pop("expires_in_hours")
        await record(tx, actor, "link_edited", _subject(link_id, label), details)
        updated = await _existing(tx, link_id)
    return link_from_row(updated)


async def revoke_link(store: Store, link_id: int, *, actor: str) -> Link:
    """Stop the link at once; accounts already made through it are untouched."""
    require("links")
    async with store.write("invite_links") as tx:
        row = await _existing(tx, link_id)
        if row["revoked_at"] is not None:
            raise LinkError(f"link #{link_id} is already revoked")
        moment = db_now()
        await tx.execute(
            "UPDATE invite_links SET revoked_at = ?, updated_at = ? WHERE id = ?",
            (moment, moment, link_id),
        )
        await record(tx, actor, "link_revoked", _subject(link_id, str(row["label"])))
        updated = await _existing(tx, link_id)
    return link_from_row(updated)


async def regenerate_link(store: Store, link_id: int, *, actor: str) -> Link:
    """Give the link a new token: the old URL stops working the moment this commits."""
    require("links")
    async with store.write("invite_links") as tx:
        row = await _existing(tx, link_id)
        await tx.execute(
            "UPDATE invite_links SET token = ?, updated_at = ? WHERE id = ?",
            (new_token(), db_now(), link_id),
        )
        await record(tx, actor, "link_regenerated", _subject(link_id, str(row["label"])))
        updated = await _existing(tx, link_id)
    return link_from_row(updated)
