"""The admins registry: who may open the console over SSH, with which key and role.

An admin is a name, one OpenSSH public key (identified by its SHA256 fingerprint, as
`ssh-keygen -l` prints it) and a role (`store.accounts.acting`). Removing an admin keeps the row
(with
`removed_at`) so the audit log's names still resolve; the name and key may then be reused.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime

import asyncssh
import msgspec

from store.accounts.acting import ROLES, Actor, Role, establish, require
from store.accounts.audit import record
from store.database.core import Store
from store.database.engine import Row, Transaction
from store.domain.clock import db_now
from store.domain.records import from_row
from store.domain.refusal import Refused

TOPIC = "admins"
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class AdminError(Refused, ValueError):
    """A bad name, key or role, or an admin that is not there; the message says which."""


class Admin(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    role: Role
    fingerprint: str
    public_key: str
    created_at: datetime
    created_by: str


def checked_name(name: str) -> str:
    name = name.strip()
    if not NAME_RULE.fullmatch(name):
        raise AdminError(
            f"admin name {name!r} is not usable: 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def checked_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise AdminError(f"role {role!r} is not one of {', '.join(ROLES)}")


def parse_public_key(text: str) -> tuple[str, str]:
    """One OpenSSH public key line → (the key as stored, its `SHA256:…` fingerprint)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise AdminError("no public key given (expected one line like 'ssh-ed25519 AAAA… name')")
    if "PRIVATE KEY" in text:
        raise AdminError("that is a private key: give the public one (the .pub file)")
    if len(lines) > 1:
        raise AdminError(f"expected one public key, got {len(lines)} lines")
    try:
        key = asyncssh.import_public_key(lines[0])
    except (asyncssh.KeyImportError, ValueError) as error:
        raise AdminError(f"not an OpenSSH public key: {error}") from None
    stored = key.export_public_key("openssh").decode("ascii").strip()
    return stored, key.get_fingerprint("sha256")


def _admin(row: Row) -> Admin:
    return from_row(row, Admin)


async def add_admin(store: Store, name: str, key_text: str, role: str, *, actor: str) -> Admin:
    require("admins")
    name = checked_name(name)
    checked = checked_role(role)
    public_key, fingerprint = parse_public_key(key_text)
    async with store.write(TOPIC) as tx:
        taken = await tx.fetchone(
            "SELECT name FROM admins WHERE removed_at IS NULL AND (name = ? COLLATE NOCASE "
            "OR fingerprint = ?)",
            (name, fingerprint),
        )
        if taken is not None:
            if str(taken["name"]).lower() == name.lower():
                raise AdminError(f"there is already an admin named {taken['name']!r}")
            raise AdminError(f"that key already belongs to admin {taken['name']!r}")
        try:
            admin_id = await tx.execute(
                """INSERT INTO admins (name, role, fingerprint, public_key, created_at,
                       created_by) VALUES (?, ?, ?, ?, ?, ?)""",
                (name, checked, fingerprint, public_key, db_now(), actor),
            )
        except sqlite3.IntegrityError:  # a racing add of the same name or key
            raise AdminError(f"admin {name!r} or that key was added just now") from None
        await record(tx, actor, "admin_added", name, {"role": checked, "key": fingerprint})
        row = await tx.fetchone("SELECT * FROM admins WHERE id = ?", (admin_id,))
    assert row is not None
    return _admin(row)


async def list_admins(store: Store) -> list[Admin]:
    rows = await store.engine.fetchall(
        "SELECT * FROM admins WHERE removed_at IS NULL ORDER BY name COLLATE NOCASE"
    )
    return [_admin(row) for row in rows]


async def admin_named(store: Store, name: str) -> Admin | None:
    row = await store.engine.fetchone(
        "SELECT * FROM admins WHERE removed_at IS NULL AND name = ? COLLATE NOCASE", (name,)
    )
    return None if row is None else _admin(row)


async def admin_by_fingerprint(store: Store, fingerprint: str) -> Admin | None:
    """The live admin whose key has this fingerprint (how an SSH login is recognised)."""
    row = await store.engine.fetchone(
        "SELECT * FROM admins WHERE removed_at IS NULL AND fingerprint = ?", (fingerprint,)
    )
    return None if row is None else _admin(row)


async def _live(tx: Transaction, name: str) -> Row:
    """The admin of that name (any case) who has not been removed, or a refusal."""
    row = await tx.fetchone(
        "SELECT * FROM admins WHERE removed_at IS NULL AND name = ? COLLATE NOCASE", (name,)
    )
    if row is None:
        raise AdminError(f"there is no admin named {name!r}")
    return row


async def remove_admin(store: Store, name: str, *, actor: str) -> Admin:
    """Remove an admin: their key stops working and their live SSH sessions end."""
    require("admins")
    async with store.write(TOPIC) as tx:
        row = await _live(tx, name)
        await tx.execute("UPDATE admins SET removed_at = ? WHERE id = ?", (db_now(), row["id"]))
        await record(tx, actor, "admin_removed", str(row["name"]), {"key": row["fingerprint"]})
    return _admin(row)


async def set_role(store: Store, name: str, role: str, *, actor: str) -> Admin:
    """Change an admin's role (their live SSH sessions end, to start again with the new one)."""
    require("admins")
    checked = checked_role(role)
    async with store.write(TOPIC) as tx:
        row = await _live(tx, name)
        await tx.execute("UPDATE admins SET role = ? WHERE id = ?", (checked, row["id"]))
        details = {"from": row["role"], "to": checked}
        await record(tx, actor, "admin_role_changed", str(row["name"]), details)
        updated = await tx.fetchone("SELECT * FROM admins WHERE id = ?", (row["id"],))
    assert updated is not None
    return _admin(updated)


async def establish_admin(store: Store, name: str, fingerprint: str, peer: str) -> Actor:
    """Make the registered admin `name` the one acting in this process (a console over SSH).

    Refused unless the name is a live admin whose key has `fingerprint`: the role always
    comes from the database, never from the caller."""
    admin = await admin_named(store, name)
    if admin is None or admin.fingerprint != fingerprint:
        raise AdminError(f"{name!r} is not a registered admin with that key")
    actor = Actor(name=admin.name, role=admin.role, fingerprint=fingerprint, peer=peer)
    establish(actor)
    return actor
