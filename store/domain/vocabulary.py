"""The domain's words, each list once: user levels and statuses, where an account came from,
the statuses of invitations and outbox rows, and the actions the audit log names. Types are
`Literal`s (mypy checks every use), tuples are their values in display order.

The schema's CHECK constraints hold the same words as frozen text in shipped migrations
(tests/test_vocabulary.py compares them): a new word here needs a migration too."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "AUDIT_ACTIONS",
    "INVITATION_STATUSES",
    "LEVELS",
    "OUTBOX_STATUSES",
    "SOURCES",
    "TOKEN_PURPOSES",
    "USER_STATUSES",
    "AuditAction",
    "InvitationStatus",
    "Level",
    "OutboxStatus",
    "Source",
    "TokenPurpose",
    "UserStatus",
    "level_named",
]

Level = Literal["admin", "manager", "member", "viewer"]
LEVELS: tuple[Level, ...] = get_args(Level)

UserStatus = Literal["unconfirmed", "pending", "active", "rejected", "disabled"]
USER_STATUSES: tuple[UserStatus, ...] = get_args(UserStatus)

Source = Literal["link", "invitation", "single", "bulk"]
"""How an account came to be: an invite link, an emailed invitation, Add user, a bulk batch."""
SOURCES: tuple[Source, ...] = get_args(Source)

InvitationStatus = Literal["pending", "accepted", "expired", "revoked", "bounced"]
INVITATION_STATUSES: tuple[InvitationStatus, ...] = get_args(InvitationStatus)

OutboxStatus = Literal["queued", "sending", "sent", "failed", "kept"]
OUTBOX_STATUSES: tuple[OutboxStatus, ...] = get_args(OutboxStatus)

TokenPurpose = Literal["set_password", "confirm_email"]
TOKEN_PURPOSES: tuple[TokenPurpose, ...] = get_args(TokenPurpose)

AuditAction = Literal[
    # invite links
    "link_created",
    "link_edited",
    "link_revoked",
    "link_regenerated",
    # signing up and confirming
    "signed_up",
    "signed_up_again",
    "signup_existing_address",
    "signup_address_changed",
    "signup_withdrawn",
    "confirmation_resent",
    "email_confirmed",
    "unconfirmed_expired",
    # invitations
    "invitations_sent",
    "invitation_resent",
    "invitation_link_copied",
    "invitation_revoked",
    "invitation_accepted",
    "invitation_bounced",
    # accounts
    "user_added",
    "users_imported",
    "user_approved",
    "user_rejected",
    "level_changed",
    "user_disabled",
    "user_enabled",
    "user_deleted",
    "set_password_link_sent",
    "signed_in",
    "password_changed",
    "password_reset_requested",
    "password_set",
    "address_key_collision",
    "address_undeliverable",
    # admins
    "admin_added",
    "admin_removed",
    "admin_role_changed",
    # mail and upkeep
    "mail_held_back",
    "mail_retried",
    "mail_retried_all",
    "mail_kept_sent",
    "mail_test_queued",
    "housekeeping",
]
"""What an audit entry says was done (`audit.action`), like webhooks.Event for events."""
AUDIT_ACTIONS: tuple[AuditAction, ...] = get_args(AuditAction)


def level_named(text: str) -> Level | None:
    """The level spelled exactly `text`, or None: each caller words its own refusal."""
    for level in LEVELS:
        if level == text:
            return level
    return None
