"""Every id names one person (issue 15): ids are never reused, also after an erasure, and
addresses are unique on one normalised key. Schema 9 rebuilds the id tables with
AUTOINCREMENT on a database that already holds rows, and keeps every one of them."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from store import Settings, Store, load_settings
from store.accounts.auth import sign_in
from store.accounts.erasure import erase_users
from store.accounts.users import resolve_users
from store.database.engine import Engine
from store.database.identities_migration import migrate_identities
from store.database.migrations import MIGRATIONS, migrate
from store.domain.addresses import address_key
from store.messaging.outbox import send_test
from store.onboarding.single_user import AddressTaken, NewUserForm, UserAdded, add_user

from .fixtures_users import add_users, status_of, user_row
from .helpers import GOOD_PASSWORD, run_usher

REBUILT = ("invite_links", "invitations", "users", "outbox", "audit")
AT = "2026-01-01T00:00:00.000000Z"


async def at_version_8(path: Path) -> None:
    """A database file exactly as Usher 8 left it (no rows yet)."""
    engine = await Engine.open(path)
    try:
        for version, script in MIGRATIONS:
            if version <= 8:
                assert isinstance(script, str)
                await engine.migrate(version, script.replace("{secret_key}", "00" * 32))
    finally:
        await engine.close()


def run(path: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        for sql, params in statements:
            conn.execute(sql, params)
    conn.close()


def user(email: str, **extra: Any) -> tuple[str, tuple[Any, ...]]:
    columns = {"email": email, "level": "member", "status": "active", "created_at": AT}
    columns.update(updated_at=AT, **extra)
    names, marks = ", ".join(columns), ", ".join("?" * len(columns))
    return f"INSERT INTO users ({names}) VALUES ({marks})", tuple(columns.values())  # noqa: S608


def outbox(recipient: str, payload: dict[str, Any], channel: str = "email") -> Any:
    return (
        "INSERT INTO outbox (recipient, kind, payload, status, next_attempt_at, message_id, "
        "created_at, channel) VALUES (?, 'welcome', ?, 'queued', ?, ?, ?, ?)",
        (recipient, json.dumps(payload), AT, f"<{recipient}-{len(str(payload))}@x>", AT, channel),
    )


def audit(action: str, subject: str, details: dict[str, Any]) -> Any:
    return (
        "INSERT INTO audit (at, actor, action, subject, details) VALUES (?, 'admin', ?, ?, ?)",
        (AT, action, subject, json.dumps(details)),
    )


def populate(path: Path) -> None:
    """Rows in every table, pointing at each other."""
    run(
        path,
        ("INSERT INTO invite_links (token, level, created_at) VALUES ('t1', 'member', ?)", (AT,)),
        ("INSERT INTO invite_links (token, level, created_at) VALUES ('t2', 'admin', ?)", (AT,)),
        outbox("ann@x.org", {"invite_url": "http://x/invite/a"}),
        outbox("hook", {"user": {"id": 2}}, channel="webhook"),
        (
            "INSERT INTO invitations (email, level, token_hash, expires_at, created_at, "
            "outbox_id) VALUES ('ann@x.org', 'member', 'h1', ?, ?, 1)",
            (AT, AT),
        ),
        user("alice@acme.org", link_id=2, first_name="Alice"),
        user("ann@x.org", invitation_id=1, source="invitation"),
        user("zoe@bücher.de", decision_reason="spam", status="rejected"),
        (
            "INSERT INTO action_tokens (token_hash, purpose, user_id, expires_at, created_at) "
            "VALUES ('d1', 'set_password', 2, ?, ?)",
            (AT, AT),
        ),
        (
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) "
            "VALUES ('s1', 1, ?, ?)",
            (AT, AT),
        ),
        audit("user_created", "alice@acme.org", {"user_id": 1}),
    )


def snapshot(path: Path) -> dict[str, Any]:
    """Every table's rows, columns, foreign keys and indexes (with their columns)."""
    with sqlite3.connect(path) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        shot: dict[str, Any] = {}
        for table in tables:
            indexes = {
                index[1]: (
                    index[2],
                    index[4],
                    conn.execute(f'PRAGMA index_xinfo("{index[1]}")').fetchall(),
                )
                for index in conn.execute(f'PRAGMA index_list("{table}")')
            }
            shot[table] = {
                "rows": conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall(),  # noqa: S608
                "columns": conn.execute(f'PRAGMA table_xinfo("{table}")').fetchall(),
                "keys": conn.execute(f'PRAGMA foreign_key_list("{table}")').fetchall(),
                "indexes": indexes,
            }
    conn.close()
    return shot


def next_ids(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        seq = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    conn.close()
    return {table: int(seq[table]) + 1 for table in REBUILT}


async def test_migration_9_keeps_every_row_index_and_key(tmp_path: Path) -> None:
    path = tmp_path / "v8.db"
    await at_version_8(path)
    populate(path)
    before = snapshot(path)

    engine = await Engine.open(path)
    try:
        assert await engine.migrate(9, migrate_identities)  # 9 alone: later ones add tables
        with pytest.raises(_Rollback):  # the writer has foreign keys on again: deletes cascade
            async with engine.write() as tx:
                assert [tuple(r) for r in await tx.fetchall("PRAGMA foreign_keys")] == [(1,)]
                await tx.execute("DELETE FROM users WHERE id = 2")
                assert await tx.fetchall("SELECT user_id FROM action_tokens") == []
                raise _Rollback
    finally:
        await engine.close()
    after = snapshot(path)

    assert set(after) - {"admins"} == set(before)  # admins: migration 15, after this one
    for table, shot in before.items():
        if table != "users":
            assert after[table] == shot, table
    users = after["users"]
    assert [row[:-1] for row in users["rows"]] == before["users"]["rows"]
    assert [row[-1] for row in users["rows"]] == [
        "alice@acme.org",
        "ann@x.org",
        "zoe@xn--bcher-kva.de",
    ]
    assert users["columns"][:-1] == before["users"]["columns"]
    assert users["columns"][-1][1:4] == ("email_key", "TEXT", 1)
    assert users["keys"] == before["users"]["keys"]
    extra = {k: v for k, v in users["indexes"].items() if k not in before["users"]["indexes"]}
    assert {k: v for k, v in users["indexes"].items() if k not in extra} == before["users"][
        "indexes"
    ]
    assert list(extra) == ["users_email_key"] and extra["users_email_key"][0] == 1
    with sqlite3.connect(path) as conn:
        for table in REBUILT:
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[
                0
            ]
            assert "id INTEGER PRIMARY KEY AUTOINCREMENT" in sql, table
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


class _Rollback(Exception):
    pass


async def test_the_next_ids_are_above_every_id_still_named(tmp_path: Path) -> None:
    """Users 4 to 8, outbox rows 3 to 12, link 3 and invitations 2 to 6 were erased or purged
    before the upgrade; their ids live on in pseudonyms, details and webhook bodies."""
    path = tmp_path / "v8.db"
    await at_version_8(path)
    populate(path)
    run(
        path,
        audit("user_deleted", "user#5", {"level": "member"}),
        outbox("hook", {"type": "user.deleted", "user": {"id": 6}}, channel="webhook"),
        audit("user_disabled", "bob@x.org", {"user_id": 8}),
        audit("invitation_bounced", "ann@x.org", {"invitation_id": 6, "outbox_id": 9}),
        audit("mail_test_queued", "t@x.org", {"id": 12}),
        audit("link_revoked", "link #3 'Spring'", {}),
    )
    engine = await Engine.open(path)
    try:
        await migrate(engine)
    finally:
        await engine.close()
    assert next_ids(path) == {
        "users": 9,
        "outbox": 13,
        "invite_links": 4,
        "invitations": 7,
        "audit": 7,
    }


async def test_an_erased_persons_ids_are_never_given_again(fast_store: Store) -> None:
    """Erase the newest user (and with them their welcome email, the newest message): the next
    user and the next message get new ids, so `user#N` and outbox id N name one thing each."""

    async def add(email: str) -> UserAdded:
        form = NewUserForm(first_name="A", last_name="B", email=email, level="member")
        added = await add_user(fast_store, form, actor="tester")
        assert isinstance(added, UserAdded)
        return added

    first = await add("first@acme.org")
    victim = await add("victim@acme.org")
    victim_mail = await fast_store.engine.scalar("SELECT max(id) FROM outbox")
    await erase_users(fast_store, [victim.user.id], actor="tester")
    assert await fast_store.engine.scalar("SELECT max(id) FROM users") == first.user.id

    bystander = await add("bystander@acme.org")
    bystander_mail = await fast_store.engine.scalar("SELECT max(id) FROM outbox")
    assert bystander.user.id > victim.user.id
    assert bystander_mail > victim_mail
    test_mail = await send_test(fast_store, "t@acme.org", "tester")
    assert test_mail > bystander_mail


async def test_colliding_rows_are_all_kept_and_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Usher 8 let these five coexist (its UNIQUE folded ASCII case only)."""
    path = tmp_path / "v8.db"
    await at_version_8(path)
    emails = [
        "alice@acme.org",
        "\uff41lice@acme.org",  # fullwidth a: NFKC folds it to alice@
        "\u00c4lice@acme.org",  # Ä
        "\u00e4lice@acme.org",  # ä: casefold meets Ä
        "\u0430lice@acme.org",  # Cyrillic a: its own key, but undeliverable
    ]
    run(path, *(user(email) for email in emails))
    engine = await Engine.open(path)
    try:
        with caplog.at_level(logging.WARNING, logger="usher.migrations"):
            await migrate(engine)
        rows = await engine.fetchall("SELECT id, email, email_key FROM users ORDER BY id")
        notes = await engine.fetchall("SELECT action, subject, details FROM audit ORDER BY id")
    finally:
        await engine.close()
    assert [(r["id"], r["email"], r["email_key"]) for r in rows] == [
        (1, emails[0], "alice@acme.org"),
        (2, emails[1], "alice@acme.org#duplicate-2"),
        (3, emails[2], "\u00e4lice@acme.org"),
        (4, emails[3], "\u00e4lice@acme.org#duplicate-4"),
        (5, emails[4], "\u0430lice@acme.org"),
    ]
    collisions = [
        (n["subject"], json.loads(n["details"]))
        for n in notes
        if n["action"] == "address_key_collision"
    ]
    assert collisions == [
        (emails[1], {"user_id": 2, "same_key_as": 1, "key": "alice@acme.org"}),
        (emails[3], {"user_id": 4, "same_key_as": 3, "key": "\u00e4lice@acme.org"}),
    ]
    undeliverable = [n["subject"] for n in notes if n["action"] == "address_undeliverable"]
    assert undeliverable == emails[1:]
    assert "user 2 has the same address key as user 1" in caplog.text
    assert "user 4 has the same address key as user 3" in caplog.text


async def test_the_key_is_unique_whatever_the_spelling(fast_store: Store) -> None:
    form = NewUserForm(first_name="A", last_name="B", email="Alice@Acme.org", level="member")
    assert isinstance(await add_user(fast_store, form, actor="tester"), UserAdded)
    again = NewUserForm(first_name="A", last_name="B", email="aLICE@ACME.ORG", level="member")
    assert isinstance(await add_user(fast_store, again, actor="tester"), AddressTaken)
    with pytest.raises(sqlite3.IntegrityError, match=r"users\.email_key"):
        async with fast_store.write("users") as tx:
            await tx.execute(
                "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
                "VALUES ('\uff41lice@acme.org', ?, 'member', 'active', ?, ?)",
                (address_key("\uff41lice@acme.org"), AT, AT),
            )


async def test_lookups_by_address_use_the_key(fast_store: Store, settings: Settings) -> None:
    """The command line's `approve/reject/delete ADDRESS` and sign-in find the account however
    the address's case or width is typed (the password still decides)."""
    form = NewUserForm(
        first_name="A", last_name="B", email="alice@bücher.de", level="member",
        choice="set", password=GOOD_PASSWORD, send_email=False,
    )  # fmt: skip
    added = await add_user(fast_store, form, actor="tester")
    assert isinstance(added, UserAdded)
    found, unknown = await resolve_users(
        fast_store.engine, ["ALICE@xn--bcher-kva.de", "\uff41lice@B\u00dcCHER.de", "bob@x.org"]
    )
    assert [user.id for user in found] == [added.user.id] and unknown == ["bob@x.org"]
    session = await sign_in(fast_store, "Alice@XN--BCHER-KVA.DE", GOOD_PASSWORD, actor="web")
    assert session.user.id == added.user.id


def test_the_command_line_finds_people_by_their_key(tmp_path: Path) -> None:
    """`usher users approve|reject ADDRESS` with the domain in punycode or the address in
    another case or width finds the one account it names."""
    db = tmp_path / "u.db"

    async def seed() -> None:
        settings = load_settings({"db": str(db)}, environ={})
        async with await Store.open(settings, watch=False) as store:
            await add_users(store, [user_row("bo@bücher.de"), user_row("cy@acme.org")])

    asyncio.run(seed())
    approved = run_usher("users", "approve", "BO@xn--bcher-kva.DE", "--json", "--db", str(db))
    assert approved.returncode == 0, approved.stderr
    assert [u["email"] for u in json.loads(approved.stdout)["approved"]] == ["bo@bücher.de"]
    rejected = run_usher("users", "reject", "\uff23\uff39@acme.org", "--db", str(db))
    assert rejected.returncode == 0, rejected.stderr
    assert status_of(db, "bo@bücher.de") == "active"
    assert status_of(db, "cy@acme.org") == "rejected"


async def test_a_dangling_reference_from_before_does_not_stop_the_upgrade(tmp_path: Path) -> None:
    """A hand edit with foreign keys off left a token pointing at no user: the migration keeps
    it as it is (it did not break it) instead of refusing to open the file."""
    path = tmp_path / "v8.db"
    await at_version_8(path)
    populate(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO action_tokens (token_hash, purpose, user_id, expires_at, created_at) "
            "VALUES ('d9', 'confirm_email', 99, ?, ?)",
            (AT, AT),
        )
    conn.close()
    engine = await Engine.open(path)
    try:
        assert (await migrate(engine))[0] == 9  # and every later one
        assert (
            await engine.scalar("SELECT user_id FROM action_tokens WHERE token_hash = 'd9'") == 99
        )
    finally:
        await engine.close()
    assert next_ids(path)["users"] == 100  # and no new user will ever take that id
