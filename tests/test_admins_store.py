"""The admins registry and roles (issue 23): enforced in `store/`, whichever face calls."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from store import Store
from store.accounts.acting import Action, Actor, NotAllowed, acting_as, require
from store.accounts.admins import (
    AdminError,
    add_admin,
    admin_by_fingerprint,
    establish_admin,
    list_admins,
    parse_public_key,
    remove_admin,
    set_role,
)
from store.accounts.audit import console_actor
from store.accounts.erasure import erase_users
from store.database.engine import Engine
from store.database.migrations import migrate
from store.onboarding.approvals import approve
from store.onboarding.links import LinkDraft, create_link

from .fixtures_migrations import migrate_below
from .fixtures_ssh import new_key, public_line
from .fixtures_users import add_user, status_of

APPROVER = Actor(name="apu", role="approver", fingerprint="SHA256:x", peer="10.0.0.7")
MANAGER = Actor(name="mia", role="manager", fingerprint="SHA256:y", peer="10.0.0.8")


def test_fingerprint_is_what_ssh_keygen_prints(tmp_path: Path) -> None:
    key = new_key("ann@laptop")
    stored, fingerprint = parse_public_key(public_line(key) + "\n")
    assert fingerprint == key.get_fingerprint("sha256")
    assert fingerprint.startswith("SHA256:") and not fingerprint.endswith("=")
    assert stored.startswith("ssh-ed25519 AAAA")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no public key"),
        ("ssh-ed25519 AAAAnotbase64", "not an OpenSSH public key"),
        ("hello world", "not an OpenSSH public key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", "private key"),
    ],
)
def test_bad_keys_are_refused_with_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(AdminError, match=message):
        parse_public_key(text)


def test_a_private_key_file_is_refused() -> None:
    private = new_key().export_private_key().decode()
    with pytest.raises(AdminError, match="private key"):
        parse_public_key(private)


async def test_add_list_set_role_remove(store: Store) -> None:
    key = new_key()
    ann = await add_admin(store, "ann", public_line(key), "manager", actor="root")
    assert ann.role == "manager" and ann.fingerprint == key.get_fingerprint("sha256")
    assert [a.name for a in await list_admins(store)] == ["ann"]
    assert (await set_role(store, "ANN", "approver", actor="root")).role == "approver"
    found = await admin_by_fingerprint(store, ann.fingerprint)
    assert found is not None and found.role == "approver"
    await remove_admin(store, "ann", actor="root")
    assert await list_admins(store) == []
    assert await admin_by_fingerprint(store, ann.fingerprint) is None
    again = await add_admin(store, "ann", public_line(key), "owner", actor="root")  # reusable
    assert again.id != ann.id
    actions = [a for _, a, _ in await _audit(store)]
    assert actions == [
        "admin_added",
        "admin_role_changed",
        "admin_removed",
        "admin_added",
    ]


async def test_duplicate_names_and_keys_bad_names_and_roles_are_refused(store: Store) -> None:
    key = new_key()
    await add_admin(store, "ann", public_line(key), "owner", actor="root")
    with pytest.raises(AdminError, match="already an admin named 'ann'"):
        await add_admin(store, "Ann", public_line(new_key()), "owner", actor="root")
    with pytest.raises(AdminError, match="already belongs to admin 'ann'"):
        await add_admin(store, "bob", public_line(key), "owner", actor="root")
    with pytest.raises(AdminError, match="not usable"):
        await add_admin(store, "bad name\x1b[2J", public_line(new_key()), "owner", actor="r")
    with pytest.raises(AdminError, match="not one of owner, manager, approver"):
        await add_admin(store, "bob", public_line(new_key()), "root", actor="root")
    with pytest.raises(AdminError, match="no admin named 'zed'"):
        await remove_admin(store, "zed", actor="root")
    assert [a.name for a in await list_admins(store)] == ["ann"]


async def test_an_approver_may_approve_but_not_create_links_or_erase(store: Store) -> None:
    pending = await add_user(store, "pat@example.org")
    with acting_as(APPROVER):
        with pytest.raises(NotAllowed, match="invite links needs the manager role or above"):
            await create_link(store, LinkDraft(), actor=console_actor())
        with pytest.raises(NotAllowed, match="erasing people needs the owner role; apu is an"):
            await erase_users(store, [pending], actor=console_actor())
        with pytest.raises(NotAllowed, match="managing admins needs the owner role"):
            await add_admin(store, "x", public_line(new_key()), "owner", actor="apu")
        decision = await approve(store, [pending], actor=console_actor())
    assert decision is not None
    assert status_of(store.path, "pat@example.org") == "active"
    ((actor, _action, subject),) = [e for e in await _audit(store) if e[1] == "user_approved"]
    assert actor == "apu (key SHA256:x, ssh 10.0.0.7)"
    assert subject == "pat@example.org"


async def test_a_manager_may_create_links_but_not_erase_or_manage_admins(store: Store) -> None:
    with acting_as(MANAGER):
        await create_link(store, LinkDraft(), actor=console_actor())
        require("bulk")
        require("users")
        with pytest.raises(NotAllowed, match="owner"):
            require("erasure")
        with pytest.raises(NotAllowed, match="owner"):
            require("admins")


def test_the_local_user_acts_as_an_owner() -> None:
    actions: tuple[Action, ...] = ("admins", "erasure", "links", "approvals")
    for action in actions:
        require(action)
    assert console_actor({"USER": "alice"}) == "alice"


async def test_establish_takes_the_role_from_the_database(store: Store) -> None:
    key = new_key()
    ann = await add_admin(store, "ann", public_line(key), "approver", actor="root")
    with acting_as(None):
        actor = await establish_admin(store, "ann", ann.fingerprint, "10.1.1.1")
        assert actor.role == "approver"
        assert console_actor({"USER": "usher"}) == f"ann (key {ann.fingerprint}, ssh 10.1.1.1)"
    with pytest.raises(AdminError, match="not a registered admin"):
        await establish_admin(store, "ann", "SHA256:wrong", "10.1.1.1")
    with pytest.raises(AdminError, match="not a registered admin"):
        await establish_admin(store, "nobody", ann.fingerprint, "")


async def test_migration_15_keeps_existing_rows(tmp_path: Path) -> None:
    path = tmp_path / "v9.db"
    engine = await Engine.open(path)
    try:
        await migrate_below(engine, 15)
        async with engine.write() as tx:
            await tx.execute(
                "INSERT INTO audit (at, actor, action, subject, details) "
                "VALUES ('2026-01-01T00:00:00.000000Z', 'alice', 'link_created', 'l', '{}')"
            )
        assert (await migrate(engine))[0] == 15
    finally:
        await engine.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT actor, action FROM audit").fetchall() == [
            ("alice", "link_created")
        ]
        assert conn.execute("SELECT count(*) FROM admins").fetchone() == (0,)
    conn.close()


async def _audit(store: Store) -> list[tuple[str, str, str]]:
    rows = await store.engine.fetchall("SELECT actor, action, subject FROM audit ORDER BY id")
    return [(str(r["actor"]), str(r["action"]), str(r["subject"])) for r in rows]
