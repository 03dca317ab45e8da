"""The outbox: every email Usher sends is a row written in the same transaction as the change
that causes it, and delivered later by the delivery worker (or kept for the admin without SMTP).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, Unpack
from urllib.parse import urlsplit

import msgspec

from store.accounts.acting import require
from store.accounts.audit import record
from store.database.engine import Transaction
from store.domain.addresses import AddressProblem, address_key, normalise_address
from store.domain.clock import db_now, to_db
from store.domain.languages import LANGUAGE_FIELD
from store.domain.records import OutboxStatus, from_row, from_rows
from store.domain.refusal import Refused
from store.domain.vocabulary import OUTBOX_STATUSES
from store.messaging.emails import RenderedEmail, fold_header_text, render
from store.messaging.webhooks import shown_url
from store.service.settings import Settings

if TYPE_CHECKING:
    from store.database.core import Store

SECRET_KEYS_FIELD = "_secret_keys"  # noqa: S105 - a field name, not a secret
"""Payload field listing which values hold a raw token (scrubbed once sent, hidden in views)."""


def new_message_id(settings: Settings) -> str:
    domain = settings.mail_from.rpartition("@")[2] or "usher.invalid"
    return f"<{secrets.token_hex(16)}@{domain}>"


OutboxRow = tuple[str, str, str, str, str, str, str, str]
"""recipient, recipient_name, kind, payload, status, next_attempt_at, message_id, created_at."""

INSERT_ROW = """INSERT INTO outbox (recipient, recipient_name, kind, payload, status,
                                    next_attempt_at, message_id, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""


class Message(TypedDict):
    """An email to queue: `kind` names the templates (`store/messaging/emails/templates/<kind>.*`);
    `values` fill them at send time, together with `org`, `public_url`, `recipient` and
    `recipient_name`. Keys named in `secret_keys` hold raw tokens (or URLs containing them):
    scrubbed after sending. `language`: the one it is written in (`enqueue` says which)."""

    to: str
    kind: str
    values: Mapping[str, Any]
    name: NotRequired[str]
    secret_keys: NotRequired[Collection[str]]
    language: NotRequired[str | None]


def with_language(values: Mapping[str, Any], language: str | None) -> dict[str, Any]:
    """The payload `values` written in `language` (None: as rendering decides)."""
    payload = dict(values)
    if language:
        payload[LANGUAGE_FIELD] = language
    return payload


async def recipient_language(tx: Transaction, address: str) -> str | None:
    """The language stored with the account at `address`, if there is one and it has one."""
    found = await tx.fetchone(
        "SELECT language FROM users WHERE email_key = ?", (address_key(address),)
    )
    return str(found["language"]) if found is not None and found["language"] else None


def outbox_row(
    settings: Settings, *, now: str | None = None, **message: Unpack[Message]
) -> OutboxRow:
    """One message ready to insert (no I/O), the one shape of every email's outbox row.
    Without SMTP the message is `kept` for the admin to pass on by hand."""
    values, secret_keys = message["values"], message.get("secret_keys", ())
    payload = with_language(values, message.get("language"))
    if secret_keys:
        payload[SECRET_KEYS_FIELD] = sorted(secret_keys)
    status = "queued" if settings.smtp_configured else "kept"
    at = now or db_now()
    return (
        message["to"],
        message.get("name", ""),
        message["kind"],
        msgspec.json.encode(payload).decode(),
        status,
        at,
        new_message_id(settings),
        at,
    )


async def enqueue(tx: Transaction, settings: Settings, **message: Unpack[Message]) -> int:
    """Queue one message inside the caller's transaction; return its outbox id.

    The message is written in its `language` when the caller knows the recipient's (it just
    stored it with their account, or the recipient has none: an invitation); otherwise in the
    language stored with the recipient's account (`recipient_language`): the one place every
    later email (approval, rejection, reset, set-password...) learns it. A batch names its
    recipients' language itself (`outbox_row`): it is the one it stores with their accounts."""
    if not message.get("language") and LANGUAGE_FIELD not in message["values"]:
        message["language"] = await recipient_language(tx, message["to"])
    row = outbox_row(settings, **message)
    outbox_id = await tx.execute(INSERT_ROW, row)
    tx.touch("outbox")
    return outbox_id


# ------------------------------------------------------------------ reading and admin actions

SCRUBBED = "[removed after sending]"
"""What a secret value becomes in the payload once the message has been sent."""
REDACTED = "[hidden: one-time link]"
"""What the console shows instead of a secret value while the message is not `kept`."""
ADMIN_PAGE = 500


class OutboxError(Refused):
    """An outbox action cannot be done; the message says why and what to do, for people."""


class OutboxMessage(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    channel: str = "email"
    """`email`, or `webhook` (recipient = the URL, kind = the event, payload = the JSON body)."""
    recipient: str
    recipient_name: str = ""
    kind: str
    payload: str = "{}"
    status: OutboxStatus
    attempts: int = 0
    next_attempt_at: datetime
    last_error: str = ""
    lease_owner: str | None = None
    lease_until: datetime | None = None
    message_id: str
    created_at: datetime
    sent_at: datetime | None = None

    @property
    def is_webhook(self) -> bool:
        return self.channel == "webhook"

    @property
    def shown_recipient(self) -> str:
        """The recipient for people: a webhook URL without its user, password or query."""
        return shown_url(self.recipient) if self.is_webhook else self.recipient

    @property
    def destination(self) -> str:
        """Who it goes to, for lists: the address, or `webhook <host>`."""
        if self.is_webhook:
            return f"webhook {urlsplit(shown_url(self.recipient)).netloc or '?'}"
        return self.recipient

    def values(self) -> dict[str, Any]:
        """The template values as stored (secrets included unless already scrubbed)."""
        decoded = msgspec.json.decode(self.payload)
        return dict(decoded) if isinstance(decoded, dict) else {}

    @property
    def secret_keys(self) -> list[str]:
        keys = self.values().get(SECRET_KEYS_FIELD, [])
        return [str(key) for key in keys] if isinstance(keys, list) else []

    def shown_values(self) -> dict[str, Any]:
        """Values for people to read: secrets replaced unless the message is `kept` (then the
        admin is the one who passes the link on)."""
        values = self.values()
        if self.status != "kept":
            for key in self.secret_keys:
                if key in values and values[key] != SCRUBBED:
                    values[key] = REDACTED
        return values

    def to_json(self) -> dict[str, Any]:
        """The shape `usher outbox list --json` prints (no template values: they hold tokens)."""
        return {
            "id": self.id,
            "channel": self.channel,
            "recipient": self.shown_recipient,
            "recipient_name": self.recipient_name,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "next_attempt_at": to_db(self.next_attempt_at),
            "created_at": to_db(self.created_at),
            "sent_at": to_db(self.sent_at) if self.sent_at else None,
            "message_id": self.message_id,
        }


def scrubbed_payload(payload: str) -> str:
    """The payload with every secret value replaced by SCRUBBED (after a successful send)."""
    values = msgspec.json.decode(payload)
    if not isinstance(values, dict):
        return payload
    for key in values.get(SECRET_KEYS_FIELD, []) or []:
        if key in values:
            values[key] = SCRUBBED
    return msgspec.json.encode(values).decode()


def render_for_view(message: OutboxMessage, settings: Settings) -> RenderedEmail:
    """The message as the console shows it (see `OutboxMessage.shown_values`); a webhook is
    shown as its event type and JSON body."""
    if message.is_webhook:
        pretty = msgspec.json.format(message.payload.encode(), indent=2).decode()
        return RenderedEmail(subject=message.kind, text=pretty, html="")
    return render(
        message.kind,
        message.shown_values(),
        settings,
        recipient=message.recipient,
        recipient_name=message.recipient_name,
    )


def check_status(status: str | None) -> None:
    if status is not None and status not in OUTBOX_STATUSES:
        raise OutboxError(f"unknown status {status!r}: use one of {', '.join(OUTBOX_STATUSES)}")


async def list_messages(
    store: Store, *, status: str | None = None, term: str = "", limit: int | None = None
) -> list[OutboxMessage]:
    """Newest first; `status` narrows to one status, `term` matches recipient, name or kind."""
    check_status(status)
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if status is not None:
        clauses.append("status = :status")
        params["status"] = status
    if term:
        params["like"] = (
            "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        clauses.append(
            "(recipient LIKE :like ESCAPE '\\' OR recipient_name LIKE :like ESCAPE '\\'"
            " OR kind LIKE :like ESCAPE '\\')"
        )
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT * FROM outbox {where} ORDER BY id DESC"  # noqa: S608 - fixed clauses
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    return from_rows(await store.engine.fetchall(sql, params), OutboxMessage)


async def get_message(store: Store, message_id: int) -> OutboxMessage | None:
    row = await store.engine.fetchone("SELECT * FROM outbox WHERE id = ?", (message_id,))
    return from_row(row, OutboxMessage) if row else None


def _need_channel(settings: Settings, channel: str, what: str) -> None:
    """Webhooks need USHER_WEBHOOK_URL where emails need SMTP."""
    if channel == "webhook":
        if not settings.webhooks_configured:
            raise OutboxError(
                f"No webhook URL is configured, so {what}. Set USHER_WEBHOOK_URL and "
                "USHER_WEBHOOK_SECRET and restart Usher."
            )
        return
    _need_smtp(settings, what)


def _ready_channels(settings: Settings) -> list[str]:
    channels = ["email"] if settings.smtp_configured else []
    return [*channels, "webhook"] if settings.webhooks_configured else channels


def _need_smtp(settings: Settings, what: str) -> None:
    if not settings.smtp_configured:
        raise OutboxError(
            f"No SMTP server is configured, so {what}. Set USHER_SMTP_URL "
            "(smtp://user:pass@host:port) and restart Usher; until then, open a kept message "
            "and pass its link on by hand."
        )


async def retry(store: Store, message_id: int, actor: str) -> OutboxMessage:
    """Send a failed (or waiting) message again now, with a fresh count of attempts."""
    require("outbox")
    async with store.write("outbox") as tx:
        row = await tx.fetchone("SELECT * FROM outbox WHERE id = ?", (message_id,))
        if row is None:
            raise OutboxError(f"there is no message #{message_id}")
        message = from_row(row, OutboxMessage)
        _need_channel(store.settings, message.channel, "messages cannot be retried")
        if message.status == "kept":
            raise OutboxError(f"message #{message_id} is kept: send the kept messages instead")
        if message.status not in ("failed", "queued"):
            raise OutboxError(
                f"message #{message_id} is {message.status}: only failed or waiting messages "
                "can be retried"
            )
        await tx.execute(
            """UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = ?,
                                 lease_owner = NULL, lease_until = NULL
               WHERE id = ?""",
            (db_now(), message_id),
        )
        await record(
            tx, actor, "mail_retried", message.recipient, {"id": message_id, "kind": message.kind}
        )
    updated = await get_message(store, message_id)
    assert updated is not None
    return updated


async def retry_all_failed(store: Store, actor: str) -> int:
    """Queue every failed message again (of the channels that are configured); returns how
    many."""
    require("outbox")
    channels = _ready_channels(store.settings)
    if not channels:
        _need_smtp(store.settings, "failed messages cannot be retried")
    marks = ",".join("?" * len(channels))
    async with store.write("outbox") as tx:
        count = await tx.execute(
            f"""UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = ?,
                                  lease_owner = NULL, lease_until = NULL
                WHERE status = 'failed' AND channel IN ({marks})""",  # noqa: S608 - placeholders
            (db_now(), *channels),
        )
        if count:
            await record(tx, actor, "mail_retried_all", f"{count} failed", {"count": count})
    return count


async def send_kept(store: Store, actor: str) -> int:
    """Queue every kept message for delivery (once SMTP is configured); returns how many."""
    require("outbox")
    _need_smtp(store.settings, "kept messages cannot be sent")
    async with store.write("outbox") as tx:
        count = await tx.execute(
            """UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = ?
               WHERE status = 'kept' AND channel = 'email'""",
            (db_now(),),
        )
        if count:
            await record(tx, actor, "mail_kept_sent", f"{count} kept", {"count": count})
    return count


async def send_test(store: Store, to: str, actor: str, *, name: str = "") -> int:
    """Queue the `test` message to `to` (kept without SMTP, like any other); returns its id."""
    require("outbox")
    try:
        address = normalise_address(to)
    except AddressProblem as error:
        raise OutboxError(
            f"{to.strip()!r} is not an email address Usher accepts: {error}"
        ) from None
    async with store.write("outbox") as tx:
        outbox_id = await enqueue(
            tx,
            store.settings,
            to=address,
            kind="test",
            values={"sent_by": actor},
            name=fold_header_text(name),
        )
        await record(tx, actor, "mail_test_queued", address, {"id": outbox_id})
    return outbox_id
