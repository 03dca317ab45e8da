"""Users and links for approval and users tests, written with plain SQL (the real signup flow is
issue 4's; these stand in for what it writes: `pending` users with source 'link')."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from store import Store
from store.domain.addresses import address_key
from store.domain.clock import db_now

from .fixtures_postgres import sync_rows, sync_run

USER_COLUMNS = (
    "email",
    "email_key",
    "first_name",
    "last_name",
    "level",
    "status",
    "source",
    "link_id",
    "created_at",
    "updated_at",
)
INSERT_USER = (
    f"INSERT INTO users ({', '.join(USER_COLUMNS)}) "  # noqa: S608 - constant column names
    f"VALUES ({', '.join('?' * len(USER_COLUMNS))})"
)


def user_row(
    email: str,
    *,
    first: str = "",
    last: str = "",
    level: str = "member",
    status: str = "pending",
    source: str = "link",
    link_id: int | None = None,
    age: timedelta = timedelta(0),
) -> tuple[Any, ...]:
    """A users row; `age` is how long ago they signed up."""
    created = db_now(-age)
    return (
        email,
        address_key(email),
        first,
        last,
        level,
        status,
        source,
        link_id,
        created,
        created,
    )


async def add_link(store: Store, label: str = "Spring cohort", level: str = "member") -> int:
    async with store.write("invite_links") as tx:
        return await tx.execute(
            "INSERT INTO invite_links (token, label, level, auto_accept, created_at) "
            "VALUES (?, ?, ?, 0, ?)",
            (secrets.token_urlsafe(16), label, level, db_now()),
        )


async def add_user(store: Store, email: str, **fields: Any) -> int:
    """One user (pending, via a link, by default), written through the store's writer."""
    async with store.write("users") as tx:
        return await tx.execute(INSERT_USER, user_row(email, **fields))


async def add_users(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """Many users in one transaction (benchmarks, paging tests)."""
    async with store.write("users") as tx:
        await tx.executemany(INSERT_USER, rows)


def add_user_elsewhere(db: str | Path, email: str, **fields: Any) -> None:
    """Like another process: a separate connection that commits by itself."""
    sync_run(db, INSERT_USER, user_row(email, **fields))


def outbox_rows(db: str | Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The outbox as dicts with the payload decoded, oldest first."""
    rows = sync_rows(db, "SELECT * FROM outbox ORDER BY id")
    found = [{**dict(row), "payload": msgspec.json.decode(row["payload"])} for row in rows]
    return [row for row in found if kind is None or row["kind"] == kind]


def status_of(db: str | Path, email: str) -> str:
    return _column(db, email, "status")


def level_of(db: str | Path, email: str) -> str:
    return _column(db, email, "level")


def _column(db: str | Path, email: str, column: str) -> str:
    rows = sync_rows(
        db,
        f"SELECT {column} FROM users WHERE email = ?",  # noqa: S608 - our own column names
        (email,),
    )
    return str(rows[0][0]) if rows else "missing"


def audit_actions(db: str | Path) -> list[tuple[str, str, str]]:
    """(actor, action, subject) of every audit entry, oldest first."""
    rows = sync_rows(db, "SELECT actor, action, subject FROM audit ORDER BY id")
    return [(str(a), str(b), str(c)) for a, b, c in rows]
