"""Everyone with an account: finding them (search, filters, sort, pages that stay fast at 50,000
users), their history, and what an admin changes about them (level, disable/enable, a fresh
set-password link). Approving and rejecting sign-ups lives in `approvals.py`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn, cast, get_args

import msgspec

from store.accounts.acting import require
from store.accounts.audit import record
from store.database.core import Store
from store.database.engine import Engine, Transaction
from store.domain.addresses import address_key
from store.domain.clock import db_now, to_db
from store.domain.csv_safe import write_csv
from store.domain.records import AuditEntry, Level, User, UserStatus, from_row, from_rows
from store.domain.refusal import Refused
from store.domain.text import like_pattern
from store.domain.vocabulary import LEVELS as LEVELS
from store.domain.vocabulary import SOURCES as SOURCES
from store.domain.vocabulary import USER_STATUSES, level_named
from store.domain.vocabulary import Source as Source
from store.messaging.webhooks import emit
from store.onboarding.bulk import AUDIT_ACTION as BULK_AUDIT_ACTION
from store.onboarding.signup import queue_set_password_email

STATUSES = USER_STATUSES
Sort = Literal["newest", "oldest", "name", "email", "status", "level"]
SORTS: tuple[Sort, ...] = get_args(Sort)

CHUNK = 500
"""Ids per `IN (…)` list: far below SQLite's variable limit, and the same on PostgreSQL."""

_ORDER_BY: dict[Sort, str] = {
    "newest": "u.created_at DESC, u.id DESC",
    "oldest": "u.created_at, u.id",
    "name": "u.first_name COLLATE NOCASE, u.last_name COLLATE NOCASE, u.id",
    "email": "u.email COLLATE NOCASE, u.id",
    "status": "u.status, u.created_at DESC, u.id DESC",
    "level": "u.level, u.created_at DESC, u.id DESC",
}

_SELECT = """SELECT u.*, l.label AS link_label
             FROM users AS u LEFT JOIN invite_links AS l ON l.id = u.link_id"""


class UsersError(Refused):
    """An action on a user cannot be done; the message says why, for people."""


class UserNotFound(UsersError):
    pass


class UserView(User, frozen=True, kw_only=True):
    """A user as the screens and the CLI show them: with the label of the link they came by."""

    link_label: str | None = None

    @property
    def via(self) -> str:
        """Where they came from, in words: the link's label, or the source."""
        if self.source == "link":
            return self.link_label or (f"link #{self.link_id}" if self.link_id else "a link")
        return {"invitation": "invitation", "single": "added", "bulk": "bulk"}.get(
            self.source, self.source
        )


class UserQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What the Users screen (and `usher users list`) is looking at."""

    term: str = ""
    """Substring of the name or email, case-insensitive."""
    status: UserStatus | None = None
    level: Level | None = None
    source: Source | None = None
    sort: Sort = "newest"


class UserPage(msgspec.Struct, frozen=True, kw_only=True):
    users: list[UserView]
    offset: int
    total: int
    """How many users match the query (all pages)."""


def _where(query: UserQuery) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    term = query.term.strip()
    if term:
        clauses.append(
            "(u.email LIKE :like ESCAPE '\\' "
            "OR (u.first_name || ' ' || u.last_name) LIKE :like ESCAPE '\\')"
        )
        params["like"] = like_pattern(term)
    for name in ("status", "level", "source"):
        value = getattr(query, name)
        if value is not None:
            clauses.append(f"u.{name} = :{name}")
            params[name] = value
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


async def count_users(engine: Engine, query: UserQuery) -> int:
    where, params = _where(query)
    return int(await engine.scalar(f"SELECT count(*) FROM users AS u{where}", params) or 0)  # noqa: S608 - clauses are constants


async def list_users(
    engine: Engine, query: UserQuery, *, limit: int | None = None, offset: int = 0
) -> list[UserView]:
    """Users matching `query` in its sort order; every match unless `limit`."""
    where, params = _where(query)
    params |= {"limit": -1 if limit is None else limit, "offset": offset}
    rows = await engine.fetchall(
        f"{_SELECT}{where} ORDER BY {_ORDER_BY[query.sort]} LIMIT :limit OFFSET :offset",
        params,
    )
    return from_rows(rows, UserView)


async def page_users(engine: Engine, query: UserQuery, *, offset: int, limit: int) -> UserPage:
    """One page of the Users screen and the total it is a page of.

    LIMIT/OFFSET on an indexed order: a page deep into 50,000 users is a few milliseconds.
    """
    total = await count_users(engine, query)
    offset = max(0, min(offset, max(0, total - 1) // limit * limit))
    users = await list_users(engine, query, limit=limit, offset=offset)
    return UserPage(users=users, offset=offset, total=total)


async def get_user(engine: Engine, user_id: int) -> UserView | None:
    row = await engine.fetchone(f"{_SELECT} WHERE u.id = ?", (user_id,))
    return None if row is None else from_row(row, UserView)


async def resolve_users(engine: Engine, refs: Iterable[str]) -> tuple[list[UserView], list[str]]:
    """People named on a command line by numeric id or email: (found, refs not found).

    Found users come once each, in the order first named.
    """
    found: dict[int, UserView] = {}
    unknown: list[str] = []
    for ref in refs:
        text = ref.strip()
        if text.isdigit():
            row = await engine.fetchone(f"{_SELECT} WHERE u.id = ?", (int(text),))
        else:
            row = await engine.fetchone(f"{_SELECT} WHERE u.email_key = ?", (address_key(text),))
        if row is None:
            unknown.append(ref)
        else:
            user = from_row(row, UserView)
            found.setdefault(user.id, user)
    return list(found.values()), unknown


async def user_history(engine: Engine, user: User, limit: int = 200) -> list[AuditEntry]:
    """What happened to this person, newest first: audit entries whose subject is their email,
    and for a bulk-imported person their batch's one entry (a batch is audited once, under
    "N of M accounts", with its `batch_id` in the details: never their address)."""
    rows = await engine.fetchall(
        "SELECT * FROM audit WHERE subject = ? COLLATE NOCASE ORDER BY id DESC LIMIT ?",
        (user.email, limit),
    )
    entries = from_rows(rows, AuditEntry)
    if user.batch_id is not None:
        batch = await _batch_entry(engine, user)
        if batch is not None and all(entry.id != batch.id for entry in entries):
            entries = sorted([*entries, batch], key=lambda entry: entry.id, reverse=True)[:limit]
    return entries


CLOCK_SLACK = timedelta(minutes=1)
"""Looked for from a little before their creation, in case the clock stepped back meanwhile."""


async def _batch_entry(engine: Engine, user: User) -> AuditEntry | None:
    """The audit entry of the batch that created `user`. It commits with their row, timed after
    it: the `at` index walks forward from their creation and stops at the first match."""
    row = await engine.fetchone(
        "SELECT * FROM audit WHERE at >= ? AND action = ? "
        "AND json_extract(details, '$.batch_id') = ? ORDER BY at, id LIMIT 1",
        (to_db(user.created_at - CLOCK_SLACK), BULK_AUDIT_ACTION, user.batch_id),
    )
    return None if row is None else from_row(row, AuditEntry)


def chunked(values: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# ---------------------------------------------------------------------------- changes


class LevelChange(msgspec.Struct, frozen=True, kw_only=True):
    user_id: int
    email: str
    old: Level
    new: Level


async def set_level(
    store: Store, user_ids: Collection[int], level: str, *, actor: str
) -> list[LevelChange]:
    """Give these users `level` (any status, also pending ones before they are approved).

    One transaction; users already at that level are left alone and not returned.
    """
    require("users")
    named = level_named(level)
    if named is None:
        raise UsersError(f"unknown level {level!r}: choose one of {', '.join(LEVELS)}")
    level = named
    changes: list[LevelChange] = []
    now = db_now()
    async with store.write("users") as tx:
        for chunk in chunked(sorted(set(user_ids))):
            marks = ",".join("?" * len(chunk))
            rows = await tx.fetchall(
                f"SELECT id, email, level, status FROM users WHERE id IN ({marks}) AND level != ?",  # noqa: S608 - placeholders only
                (*chunk, level),
            )
            if not rows:
                continue
            await tx.execute(
                f"UPDATE users SET level = ?, updated_at = ? WHERE id IN ({marks}) AND level != ?",  # noqa: S608 - placeholders only
                (level, now, *chunk, level),
            )
            for row in rows:
                change = LevelChange(
                    user_id=int(row["id"]),
                    email=str(row["email"]),
                    old=cast(Level, row["level"]),
                    new=level,
                )
                changes.append(change)
                await record(
                    tx,
                    actor,
                    "level_changed",
                    change.email,
                    {"user_id": change.user_id, "from": change.old, "to": change.new},
                )
                await emit(
                    tx,
                    store.settings,
                    "user.level_changed",
                    {**dict(row), "level": level},
                    previous={"level": change.old},
                )
    return changes


async def disable_user(store: Store, user_id: int, *, actor: str) -> User:
    """Active → disabled; their outstanding set-password links stop working."""
    require("users")
    async with store.write("users", "action_tokens") as tx:
        row = await tx.fetchone(
            "UPDATE users SET status = 'disabled', updated_at = ? "
            "WHERE id = ? AND status = 'active' RETURNING *",
            (db_now(), user_id),
        )
        if row is None:
            await _refuse(tx, user_id, "disable", "only active accounts can be disabled")
        user = from_row(row, User)
        await tx.execute(
            "UPDATE action_tokens SET used_at = ? WHERE user_id = ? AND used_at IS NULL",
            (db_now(), user_id),
        )
        await record(tx, actor, "user_disabled", user.email, {"user_id": user.id})
        await emit(tx, store.settings, "user.disabled", user)
    return user


async def enable_user(store: Store, user_id: int, *, actor: str) -> User:
    """Disabled → active."""
    require("users")
    async with store.write("users") as tx:
        row = await tx.fetchone(
            "UPDATE users SET status = 'active', updated_at = ? "
            "WHERE id = ? AND status = 'disabled' RETURNING *",
            (db_now(), user_id),
        )
        if row is None:
            await _refuse(tx, user_id, "enable", "only disabled accounts can be enabled")
        user = from_row(row, User)
        await record(tx, actor, "user_enabled", user.email, {"user_id": user.id})
        await emit(tx, store.settings, "user.enabled", user)
    return user


async def send_set_password_link(store: Store, user_id: int, *, actor: str) -> User:
    """Mint a fresh set-password link (72 h) and queue the `set_password` email.

    Only active accounts (pending, rejected and disabled ones are blocked everywhere). Earlier
    unused set-password links of this person stop working: only the newest one is valid.
    The raw token exists only in the outbox payload (scrubbed once sent); we store its SHA-256.
    """
    require("users")
    async with store.write("users", "action_tokens") as tx:
        row = await tx.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        if row is None or row["status"] != "active":
            await _refuse(tx, user_id, "send a set-password link to", "the account is not active")
        user = from_row(row, User)
        await queue_set_password_email(
            tx,
            store.settings,
            user_id=user.id,
            email=user.email,
            first_name=user.first_name,
            name=user.name,
        )
        await record(tx, actor, "set_password_link_sent", user.email, {"user_id": user.id})
    return user


async def _refuse(tx: Transaction, user_id: int, verb: str, why: str) -> NoReturn:
    """Raise the right error for an action that changed nothing (the transaction rolls back)."""
    row = await tx.fetchone("SELECT email, status FROM users WHERE id = ?", (user_id,))
    if row is None:
        raise UserNotFound(f"no user with id {user_id}")
    raise UsersError(f"cannot {verb} {row['email']}: the account is {row['status']} ({why})")


# ---------------------------------------------------------------------------- export


EXPORT_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "level",
    "status",
    "source",
    "link",
    "created_at",
    "decided_by",
    "decided_at",
    "decision_reason",
    "language",
)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def address_confirmed(user: User) -> bool:
    """Whether anything proved that this person holds the address. Not for someone who signed
    up through a link that did not ask them to confirm it (and has not set a password by an
    emailed link since): anyone with such a link could have typed anyone's address. Admins
    typed the others' addresses; invitations and confirmations prove theirs."""
    return user.source != "link" or user.confirmed_at is not None


def user_to_json(user: UserView) -> dict[str, Any]:
    """The `--json` and CSV shape of a user: snake_case keys, ISO times in UTC."""
    return {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "name": user.name,
        "level": user.level,
        "status": user.status,
        "source": user.source,
        "link_id": user.link_id,
        "link": user.link_label,
        "created_at": _iso(user.created_at),
        "confirmed_at": _iso(user.confirmed_at),
        "address_confirmed": address_confirmed(user),
        "decided_by": user.decided_by,
        "decided_at": _iso(user.decided_at),
        "decision_reason": user.decision_reason,
        "language": user.language,
    }


def export_cells(users: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """The CSV export's rows (EXPORT_COLUMNS, in order) of users in `user_to_json`'s shape:
    the console's export and `usher users export` write the same file."""
    return [[user[column] for column in EXPORT_COLUMNS] for user in users]


async def export_users_csv(
    engine: Engine, query: UserQuery, path: str | os.PathLike[str], *, overwrite: bool = False
) -> int:
    """Write every user matching `query` (the current view, all pages) to a 0600 CSV file."""
    users = await list_users(engine, query)
    rows = export_cells(user_to_json(user) for user in users)
    return await asyncio.to_thread(write_csv, path, EXPORT_COLUMNS, rows, overwrite=overwrite)
