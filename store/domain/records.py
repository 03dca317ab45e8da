"""Records as the rest of Usher sees them: typed, immutable `msgspec.Struct`s built from rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec

from store.database.engine import Row
from store.domain.vocabulary import Level as Level
from store.domain.vocabulary import OutboxStatus as OutboxStatus
from store.domain.vocabulary import UserStatus as UserStatus

T = TypeVar("T", bound=msgspec.Struct)


def from_row(row: Row, record_type: type[T]) -> T:
    """Build a record from a row; columns the record does not name are ignored."""
    return msgspec.convert(dict(zip(row.keys(), row, strict=True)), record_type, strict=False)


def from_rows(rows: list[Row], record_type: type[T]) -> list[T]:
    return [from_row(row, record_type) for row in rows]


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    first_name: str
    last_name: str
    level: Level
    status: UserStatus
    must_change_password: bool = False
    source: str = "single"
    link_id: int | None = None
    invitation_id: int | None = None
    batch_id: str | None = None
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    language: str | None = None
    """The language every email to them is written in (`store.messaging.outbox.enqueue`); None: not
    chosen, USHER_LANGUAGE (else English) applies."""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def may_change_password(self) -> bool:
        """Only an active account changes its password; the others see only their state."""
        return self.status == "active"

    @property
    def must_change_now(self) -> bool:
        """Signed in with a first (generated or shared) password: change it before anything."""
        return self.may_change_password and self.must_change_password


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: str = "{}"

    def detail_values(self) -> dict[str, Any]:
        decoded: dict[str, Any] = msgspec.json.decode(self.details)
        return decoded


class Counts(msgspec.Struct, frozen=True, kw_only=True):
    """The dashboard's figures, read in one go."""

    users_by_status: dict[str, int]
    links_active: int
    links_inactive: int
    invitations_pending: int
    invitations_bounced: int
    outbox_by_status: dict[str, int]
    last_signup_at: datetime | None
    last_signup_email: str | None

    @property
    def pending(self) -> int:
        return self.users_by_status.get("pending", 0)

    @property
    def active(self) -> int:
        return self.users_by_status.get("active", 0)

    @property
    def total_users(self) -> int:
        return sum(self.users_by_status.values())

    @property
    def mail_queued(self) -> int:
        return self.outbox_by_status.get("queued", 0) + self.outbox_by_status.get("sending", 0)

    @property
    def mail_failed(self) -> int:
        return self.outbox_by_status.get("failed", 0)

    @property
    def mail_kept(self) -> int:
        return self.outbox_by_status.get("kept", 0)

    @property
    def is_empty(self) -> bool:
        return (
            self.total_users == 0
            and self.links_active + self.links_inactive == 0
            and (self.invitations_pending == 0)
        )
