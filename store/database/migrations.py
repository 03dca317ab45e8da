"""The schema, as an ordered list of migrations; `PRAGMA user_version` says how far a file is.

Add a migration by appending to MIGRATIONS: never edit one that has shipped.
"""

from __future__ import annotations

import secrets

from store.database.engine import DatabaseError, Engine, MigrationStep
from store.database.identities_migration import migrate_identities
from store.domain.vocabulary import LEVELS as LEVELS
from store.domain.vocabulary import OUTBOX_STATUSES as OUTBOX_STATUSES
from store.domain.vocabulary import USER_STATUSES as USER_STATUSES

# Every script below is frozen text: it spells its CHECK lists out rather than building them
# from store.domain.vocabulary, so a later change of the vocabulary cannot rewrite a shipped
# migration.

V1_FOUNDATION = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE invite_links (
    id             INTEGER PRIMARY KEY,
    token          TEXT NOT NULL UNIQUE,
    label          TEXT NOT NULL DEFAULT '',
    level          TEXT NOT NULL CHECK (level IN ('admin', 'manager', 'member', 'viewer')),
    password_hash  TEXT,
    auto_accept    INTEGER NOT NULL DEFAULT 1,
    confirm_email  INTEGER NOT NULL DEFAULT 1,
    domains        TEXT NOT NULL DEFAULT '[]',
    max_uses       INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
    uses           INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    expires_at     TEXT,
    revoked_at     TEXT,
    created_by     TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL
) STRICT;

CREATE TABLE invitations (
    id           INTEGER PRIMARY KEY,
    email        TEXT NOT NULL COLLATE NOCASE,
    name         TEXT NOT NULL DEFAULT '',
    level        TEXT NOT NULL CHECK (level IN ('admin', 'manager', 'member', 'viewer')),
    message      TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'accepted', 'expired', 'revoked', 'bounced')),
    token_hash   TEXT NOT NULL UNIQUE,
    expires_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    accepted_at  TEXT
) STRICT;
CREATE INDEX invitations_email ON invitations (email);

CREATE TABLE users (
    id                    INTEGER PRIMARY KEY,
    email                 TEXT NOT NULL UNIQUE COLLATE NOCASE,
    first_name            TEXT NOT NULL DEFAULT '',
    last_name             TEXT NOT NULL DEFAULT '',
    level                 TEXT NOT NULL CHECK (level IN ('admin', 'manager', 'member', 'viewer')),
    status                TEXT NOT NULL CHECK (status IN ('unconfirmed', 'pending', 'active', 'rejected', 'disabled')),
    password_hash         TEXT,
    must_change_password  INTEGER NOT NULL DEFAULT 0,
    source                TEXT NOT NULL DEFAULT 'single'
                          CHECK (source IN ('link', 'invitation', 'single', 'bulk')),
    link_id               INTEGER REFERENCES invite_links (id) ON DELETE SET NULL,
    invitation_id         INTEGER REFERENCES invitations (id) ON DELETE SET NULL,
    batch_id              TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    confirmed_at          TEXT,
    decided_by            TEXT,
    decided_at            TEXT,
    decision_reason       TEXT
) STRICT;
CREATE INDEX users_status ON users (status, created_at);
CREATE INDEX users_link ON users (link_id);

CREATE TABLE action_tokens (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('set_password', 'confirm_email')),
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX action_tokens_user ON action_tokens (user_id);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    recipient        TEXT NOT NULL,
    recipient_name   TEXT NOT NULL DEFAULT '',
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'kept')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_error       TEXT NOT NULL DEFAULT '',
    lease_owner      TEXT,
    lease_until      TEXT,
    message_id       TEXT NOT NULL UNIQUE,
    created_at       TEXT NOT NULL,
    sent_at          TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE audit (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT NOT NULL DEFAULT '',
    details  TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX audit_at ON audit (at);

INSERT INTO meta (key, value) VALUES ('secret_key', '{secret_key}');
"""  # noqa: E501 - frozen text: the lines are as the schema has them

V3_LINK_SIGNUP = """
CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

ALTER TABLE invite_links ADD COLUMN updated_at TEXT;
CREATE INDEX action_tokens_expiry ON action_tokens (expires_at);
"""
"""Sign-in sessions (only a SHA-256 of the cookie's token is stored) and when a link last
changed."""

V5_INVITATIONS = """
ALTER TABLE invitations ADD COLUMN sent_at TEXT;
ALTER TABLE invitations ADD COLUMN outbox_id INTEGER REFERENCES outbox (id) ON DELETE SET NULL;
CREATE INDEX invitations_status ON invitations (status, expires_at);
CREATE INDEX invitations_outbox ON invitations (outbox_id);
"""
"""Email invitations (issue 6): when the current link was issued (send, resend, copy), and the
outbox message that carries it, so a permanent SMTP refusal of that message marks the
invitation bounced (and a superseded message does not)."""

V7_BULK_ACCOUNTS = """
ALTER TABLE users ADD COLUMN password_expires_at TEXT;
CREATE INDEX users_batch ON users (batch_id) WHERE batch_id IS NOT NULL;
"""
"""Issue 8: when an initial credential stops working (one-time credentials and the shared
"one for all" password: 7 days; NULL = never), and finding the accounts of a bulk batch."""

V4_APPROVALS_AND_USERS = """
ALTER TABLE users ADD COLUMN admins_notified_at TEXT;
CREATE INDEX users_created ON users (created_at, id);
CREATE INDEX users_name ON users (first_name COLLATE NOCASE, last_name COLLATE NOCASE, id);
CREATE INDEX users_level ON users (level, created_at);
CREATE INDEX users_source ON users (source, created_at);
CREATE INDEX users_pending_digest ON users (id)
    WHERE status = 'pending' AND admins_notified_at IS NULL;
CREATE INDEX audit_subject ON audit (subject COLLATE NOCASE);
"""
"""Issue 5: the Users screen sorts and filters 50,000 rows by index; per-user history reads the
audit log by subject (the user's email); `admins_notified_at` marks pending sign-ups already
told to USHER_NOTIFY."""

V2_OUTBOX_DELIVERY = """
CREATE INDEX outbox_lease ON outbox (lease_until) WHERE status = 'sending';
CREATE INDEX outbox_status_id ON outbox (status, id);
"""
"""Issue 3: finding expired leases (a crashed worker's messages) and listing by status."""

V8_OPERATIONS = """
ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'
    CHECK (channel IN ('email', 'webhook'));
CREATE INDEX outbox_channel_due ON outbox (channel, status, next_attempt_at);
"""
"""Issue 11: webhook deliveries share the outbox (leases, backoff, the Outbox screen) with email;
`channel` tells the delivery workers which rows are theirs."""

V10_SIGN_IN_AND_MAIL_LIMITS = """
CREATE TABLE sign_in_failures (
    address         TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_failed_at  TEXT NOT NULL,
    wait_until      TEXT
) STRICT;
CREATE INDEX sign_in_failures_last ON sign_in_failures (last_failed_at);
CREATE TABLE mail_limits (
    recipient     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    window_start  TEXT NOT NULL,
    sent          INTEGER NOT NULL DEFAULT 0,
    held          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (recipient, kind)
) STRICT;
CREATE INDEX mail_limits_window ON mail_limits (window_start);
CREATE TABLE mail_held_back (
    kind   TEXT PRIMARY KEY,
    count  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TRIGGER users_status_change_ends_sessions
AFTER UPDATE OF status ON users
WHEN OLD.status IS NOT NEW.status
BEGIN
    DELETE FROM sessions WHERE user_id = NEW.id;
END;
DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE status != 'active');
"""
"""Issue 15: failed sign-ins per address (whether or not it has an account;
store.accounts.throttle), messages of one kind to one address per hour and how many were held back
(store.messaging.mail_limits), and the rule that a change of an account's status ends all its
sessions, in whatever process or code path it happens (a session made while pending or disabled
never becomes an active one). Sessions of accounts that are not active now end once, at the
upgrade."""
V11_EVENT_SEQUENCES = """
CREATE TABLE webhook_sequences (
    user_id INTEGER PRIMARY KEY,
    last    INTEGER NOT NULL CHECK (last > 0)
);
"""
"""Issue 15: each webhook event carries a per-person `sequence` (1, 2, 3… for one user id), so
receivers can apply events in order whatever order retries deliver them in. Kept after an
erasure: it holds no personal data, and an id's sequence never goes back."""
V15_ADMINS = """
CREATE TABLE admins (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'approver')),
    fingerprint TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    removed_at  TEXT
);
CREATE UNIQUE INDEX admins_live_name ON admins (name COLLATE NOCASE) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX admins_live_key ON admins (fingerprint) WHERE removed_at IS NULL;
"""
"""Issue 23: admins who open the console over SSH, by public key, with a role. A removed
admin's row stays (`removed_at`), so the name and key can be registered again later."""

V16_LINK_GUESSES = """
CREATE TABLE link_password_attempts (
    id       INTEGER PRIMARY KEY,
    link_id  INTEGER NOT NULL REFERENCES invite_links (id) ON DELETE CASCADE,
    browser  TEXT NOT NULL,
    email    TEXT NOT NULL,
    client   TEXT NOT NULL,
    at       TEXT NOT NULL
) STRICT;
CREATE INDEX link_password_attempts_at ON link_password_attempts (at);
CREATE INDEX link_password_attempts_browser ON link_password_attempts (link_id, browser, at);
CREATE INDEX link_password_attempts_email ON link_password_attempts (link_id, email, at);
CREATE INDEX link_password_attempts_client ON link_password_attempts (link_id, client, at);
"""
"""Issues 15 and 17: each guess at a link's password in the last 15 minutes, reserved before it
is verified (store.onboarding.link_attempts), keyed by digests of the browser, the typed address and
the client, so the limit holds across processes and a room behind one address is not locked out."""
V17_SERVERS = """
CREATE TABLE servers (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  TEXT NOT NULL
) STRICT;
"""
"""Issue 16: each serving process records its public URL while it serves (store.service.served_url),
so a `--no-server` console shows and copies the links people can really open."""

V19_CLIENT_EVENTS = """
CREATE TABLE client_events (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,
    client  TEXT NOT NULL,
    at      TEXT NOT NULL
) STRICT;
CREATE INDEX client_events_client ON client_events (kind, client, at);
CREATE INDEX client_events_at ON client_events (kind, at);
"""
"""Per-client limits that hold across processes (store.service.request_limits): each POST per client
and each refused SSH key per peer in the last minute, under a digest of the client."""

V20_LANGUAGES = """
ALTER TABLE invite_links ADD COLUMN language TEXT;
ALTER TABLE invitations ADD COLUMN language TEXT;
ALTER TABLE users ADD COLUMN language TEXT;
"""
"""Issue 22: the language an admin sets on a link or an invitation (NULL: the invitee's browser
decides), and each person's language, in which every later email to them is written."""

MIGRATIONS: list[tuple[int, str | MigrationStep]] = [
    (1, V1_FOUNDATION),
    (2, V2_OUTBOX_DELIVERY),
    (3, V3_LINK_SIGNUP),
    (4, V4_APPROVALS_AND_USERS),
    (5, V5_INVITATIONS),
    (7, V7_BULK_ACCOUNTS),
    (8, V8_OPERATIONS),
    (9, migrate_identities),  # issue 15: AUTOINCREMENT ids, users.email_key (a Python step)
    (10, V10_SIGN_IN_AND_MAIL_LIMITS),
    (11, V11_EVENT_SEQUENCES),
    (15, V15_ADMINS),
    (16, V16_LINK_GUESSES),
    (17, V17_SERVERS),
    (19, V19_CLIENT_EVENTS),
    (20, V20_LANGUAGES),
]
"""(version, SQL script or Python step) in order. `{secret_key}` is filled with fresh random
bytes."""

LATEST_VERSION = MIGRATIONS[-1][0]


async def migrate(engine: Engine) -> list[int]:
    """Apply every migration the file lacks; return the versions applied (empty when current).

    A file written by a newer Usher is refused rather than guessed at.
    """
    current = await engine.user_version()
    if current > LATEST_VERSION:
        raise DatabaseError(
            f"database {str(engine.path)!r} has schema version {current}, newer than this "
            f"Usher understands ({LATEST_VERSION}): upgrade Usher"
        )
    applied: list[int] = []
    for version, script in MIGRATIONS:
        if version <= current:
            continue
        if isinstance(script, str):
            script = script.replace("{secret_key}", secrets.token_hex(32))
        if await engine.migrate(version, script):
            applied.append(version)
    return applied
