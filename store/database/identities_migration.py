"""Schema 9 (issue 15): ids are never reused, and addresses are unique on a normalised key.

Before, erasing the newest user freed their id and the next signup took it: the audit's
pseudonym `user#312`, webhook receivers and `.eml` files then named a different person. The
tables whose ids are shown or pseudonymised are rebuilt with `AUTOINCREMENT` (SQLite's
twelve-step rebuild, run by `Engine.migrate` with foreign keys off and checked before the
commit), every row, index and foreign key kept, and `sqlite_sequence` is seeded past the
highest id anything still names — an erased person's id lives on in audit pseudonyms,
`user_id` details and webhook bodies.

`users.email_key` (`store.domain.addresses.address_key`) gets a UNIQUE index. Rows that already
collide (say `Älice@` and `älice@`) are all kept: the later ones get a `#duplicate-<id>` key
suffix (no address key can contain `#` after the @), one audit entry and a log line each.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

from store.domain.addresses import address_key, local_part_problem
from store.domain.clock import db_now

log = logging.getLogger("usher.migrations")

ACTOR = "schema migration 9"

REBUILT = ("invite_links", "invitations", "users", "outbox", "audit")
"""Tables whose ids people see (links, invitations, users, messages) or that name them."""

_ID_COLUMN = re.compile(r"\bid\s+INTEGER\s+PRIMARY\s+KEY\b(?!\s+AUTOINCREMENT)", re.IGNORECASE)
_HEADER = re.compile(r'^\s*CREATE\s+TABLE\s+"?(\w+)"?\s*\(', re.IGNORECASE)
_PSEUDONYM = re.compile(r"user#(\d+)")
_LINK_SUBJECT = re.compile(r"link #(\d+)")


_REFERENCES = [
    ("users", "SELECT max(user_id) FROM action_tokens"),
    ("users", "SELECT max(user_id) FROM sessions"),
    ("outbox", "SELECT max(outbox_id) FROM invitations"),
    ("invitations", "SELECT max(invitation_id) FROM users"),
    ("invite_links", "SELECT max(link_id) FROM users"),
    (
        "users",
        "SELECT max(CASE WHEN json_type(details, '$.user_id') = 'integer' "
        "THEN json_extract(details, '$.user_id') END) FROM audit WHERE json_valid(details)",
    ),
    (
        "outbox",
        "SELECT max(CASE WHEN json_type(details, '$.outbox_id') = 'integer' "
        "THEN json_extract(details, '$.outbox_id') END) FROM audit WHERE json_valid(details)",
    ),
    (
        "invitations",
        "SELECT max(CASE WHEN json_type(details, '$.invitation_id') = 'integer' "
        "THEN json_extract(details, '$.invitation_id') END) FROM audit WHERE json_valid(details)",
    ),
    (
        "invite_links",
        "SELECT max(CASE WHEN json_type(details, '$.link_id') = 'integer' "
        "THEN json_extract(details, '$.link_id') END) FROM audit WHERE json_valid(details)",
    ),
    (
        "outbox",
        "SELECT max(CASE WHEN json_type(details, '$.id') = 'integer' "
        "THEN json_extract(details, '$.id') END) FROM audit WHERE json_valid(details) "
        "AND action = 'mail_test_queued'",
    ),
    (
        "users",
        "SELECT max(CASE WHEN json_type(payload, '$.user.id') = 'integer' "
        "THEN json_extract(payload, '$.user.id') END) FROM outbox WHERE json_valid(payload) "
        "AND channel = 'webhook'",
    ),
]
"""(table, query): ids of that table that other rows still name — references, `user_id`-style
details in the audit log, the person in a webhook body."""


def _max_id(db: sqlite3.Connection, table: str) -> int:
    return int(_scalar(db, f'SELECT coalesce(max(id), 0) FROM "{table}"'))  # noqa: S608 - ours


def _scalar(db: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = db.execute(sql, params).fetchone()
    return None if row is None else row[0]


def _text_columns(db: sqlite3.Connection) -> Iterator[tuple[str, str]]:
    tables = [
        str(row[0])
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for table in tables:
        for column in db.execute(f'PRAGMA table_info("{table}")'):
            if str(column[2]).upper() == "TEXT":
                yield table, str(column[1])


def highest_ids(db: sqlite3.Connection) -> dict[str, int]:
    """Per rebuilt table, the highest id that exists or is still named anywhere (0 if none)."""
    seen = {table: _max_id(db, table) for table in REBUILT}

    def saw(table: str, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            seen[table] = max(seen[table], value)

    for table, sql in _REFERENCES:
        saw(table, _scalar(db, sql))
    for table, column in _text_columns(db):
        sql = f'SELECT "{column}" FROM "{table}" WHERE instr("{column}", ?) > 0'  # noqa: S608
        for (text,) in db.execute(sql, ("user#",)):
            for match in _PSEUDONYM.finditer(str(text)):
                saw("users", int(match.group(1)))
    for (subject,) in db.execute("SELECT subject FROM audit WHERE subject LIKE 'link #%'"):
        for match in _LINK_SUBJECT.finditer(str(subject)):
            saw("invite_links", int(match.group(1)))
    return seen


def _rebuild(db: sqlite3.Connection, table: str, extra: str = "") -> None:
    """Recreate `table` with `id INTEGER PRIMARY KEY AUTOINCREMENT` (plus an `extra` column,
    filled by `usher_v9_value(id)`), keeping its rows, indexes and triggers."""
    sql = str(
        _scalar(db, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
    )
    dependents = [
        str(row[0])
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL ORDER BY type, name",
            (table,),
        )
    ]
    columns = [f'"{row[1]}"' for row in db.execute(f'PRAGMA table_xinfo("{table}")')]
    new_sql, found = _ID_COLUMN.subn("id INTEGER PRIMARY KEY AUTOINCREMENT", sql, count=1)
    if not found or not _HEADER.match(new_sql):
        raise sqlite3.DatabaseError(f"migration 9: unexpected schema for table {table}: {sql}")
    temporary = f"{table}_v9"
    new_sql = _HEADER.sub(f'CREATE TABLE "{temporary}" (', new_sql, count=1)
    picked, sources = ", ".join(columns), ", ".join(columns)
    if extra:
        close = new_sql.rindex(")")
        new_sql = f"{new_sql[:close].rstrip()},\n    {extra}\n{new_sql[close:]}"
        extra_name = extra.split()[0]
        picked += f', "{extra_name}"'
        sources += ", usher_v9_value(id)"
    db.execute(new_sql)
    db.execute(f'INSERT INTO "{temporary}" ({picked}) SELECT {sources} FROM "{table}"')  # noqa: S608
    db.execute(f'DROP TABLE "{table}"')
    db.execute(f'ALTER TABLE "{temporary}" RENAME TO "{table}"')
    for statement in dependents:
        db.execute(statement)


def _email_keys(db: sqlite3.Connection, at: str) -> dict[int, str]:
    """Each user's `email_key`; a row whose key an older row holds gets a suffix, an audit
    entry and a log line, and an address Usher could not deliver to today an audit entry."""
    keys: dict[int, str] = {}
    first: dict[str, int] = {}
    notes: list[tuple[str, str, str, str, str]] = []
    for user_id, email in db.execute("SELECT id, email FROM users ORDER BY id").fetchall():
        key = address_key(str(email))
        if key in first:
            keys[user_id] = f"{key}#duplicate-{user_id}"
            details = {"user_id": user_id, "same_key_as": first[key], "key": key}
            notes.append((at, ACTOR, "address_key_collision", str(email), json.dumps(details)))
            log.warning(
                "user %d has the same address key as user %d (%r): both kept; the newer one "
                "cannot sign in by address until an admin resolves it",
                user_id,
                first[key],
                key,
            )
        else:
            first[key] = user_id
            keys[user_id] = key
        problem = local_part_problem(str(email).rpartition("@")[0])
        if problem:
            details = {"user_id": user_id, "reason": problem}
            notes.append((at, ACTOR, "address_undeliverable", str(email), json.dumps(details)))
    db.executemany(
        "INSERT INTO audit (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)", notes
    )
    return keys


def migrate_identities(db: sqlite3.Connection) -> None:
    """The migration itself (run inside `Engine.migrate`'s transaction)."""
    at = db_now()
    highest = highest_ids(db)
    keys = _email_keys(db, at)
    db.create_function("usher_v9_value", 1, keys.__getitem__)
    try:
        for table in REBUILT:
            _rebuild(db, table, "email_key TEXT NOT NULL" if table == "users" else "")
    finally:
        db.create_function("usher_v9_value", 1, None)
    db.execute("CREATE UNIQUE INDEX users_email_key ON users (email_key)")
    for table in REBUILT:
        top = max(highest[table], _max_id(db, table))
        db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, top))
