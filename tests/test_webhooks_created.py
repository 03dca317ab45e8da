"""`user.created` for one person added by an admin: written by
`store.onboarding.single_user.add_user` (through `create_accounts`) and by `usher users add` as a
real process, once per account, and delivered signed to a real receiver."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest
from standardwebhooks import Webhook

from store import Store
from store.messaging.webhook_delivery import run_webhook_delivery
from store.messaging.webhooks import EVENT_ID_HEADER
from store.onboarding.single_user import AddressTaken, NewUserForm, UserAdded, add_user

from .fixtures_operations import SECRET, Receiver, hooked_store, receiver
from .fixtures_postgres import settings_on_both_engines
from .helpers import GOOD_PASSWORD, eventually, run_usher

__all__ = ["hooked_store", "receiver", "settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""

HOOK_URL = "https://hooks.example.org/usher"


async def webhook_bodies(store: Store) -> list[dict[str, Any]]:
    rows = await store.engine.fetchall(
        "SELECT payload FROM outbox WHERE channel = 'webhook' ORDER BY id"
    )
    return [msgspec.json.decode(row["payload"]) for row in rows]


@pytest.mark.parametrize("choice", ["link", "generate", "set"])
async def test_adding_one_user_emits_user_created_once(hooked_store: Store, choice: str) -> None:
    form = NewUserForm(
        first_name="Ann",
        last_name="Lee",
        email="Ann@Example.org",
        level="manager",
        choice=choice,
        password=GOOD_PASSWORD,
    )
    added = await add_user(hooked_store, form, actor="alice")
    assert isinstance(added, UserAdded)

    [event] = await webhook_bodies(hooked_store)
    assert event["type"] == "user.created"
    assert event["user"] == {
        "id": added.user.id,
        "email": "Ann@example.org",  # the domain is lower-cased, the local part kept
        "level": "manager",
        "status": "active",
    }
    assert "previous" not in event

    # The same address again is refused, and a refusal writes no event.
    again = await add_user(hooked_store, form, actor="alice")
    assert isinstance(again, AddressTaken)
    assert len(await webhook_bodies(hooked_store)) == 1


async def test_a_single_user_without_email_still_emits_and_is_delivered_signed(
    hooked_store: Store, receiver: Receiver
) -> None:
    form = NewUserForm(first_name="Bo", email="bo@example.org", level="viewer", send_email=False)
    added = await add_user(hooked_store, form, actor="alice")
    assert isinstance(added, UserAdded) and not added.email_queued
    [event] = await webhook_bodies(hooked_store)

    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_webhook_delivery(
            hooked_store, stop_event=stop, poll=0.05, base_delay=0.01, max_delay=0.05
        )
    )
    try:
        await eventually(lambda: _accepted(receiver))
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)

    [delivered] = receiver.accepted()
    assert delivered.headers[EVENT_ID_HEADER] == event["id"]
    assert delivered.headers["x-usher-event"] == "user.created"
    assert Webhook(SECRET).verify(delivered.body, delivered.headers)["id"] == event["id"]
    body = msgspec.json.decode(delivered.body)
    assert body["user"]["email"] == "bo@example.org" and body["user"]["level"] == "viewer"


async def _accepted(receiver: Receiver) -> bool:
    return bool(receiver.accepted())


def _usher_add(db: Path, email: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_usher(
        "users",
        "add",
        "--first",
        "Cy",
        "--last",
        "Young",
        "--email",
        email,
        "--level",
        "admin",
        "--db",
        str(db),
        *extra,
        variables=env,
    )


def _webhook_rows(db: Path) -> list[tuple[str, str, dict[str, Any]]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT recipient, kind, payload FROM outbox WHERE channel = 'webhook' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return [(str(r[0]), str(r[1]), json.loads(r[2])) for r in rows]


def test_usher_users_add_emits_user_created(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    hooks = {"USHER_WEBHOOK_URL": HOOK_URL, "USHER_WEBHOOK_SECRET": SECRET}
    result = _usher_add(db, "cy@example.org", "--generate-password", "--json", **hooks)
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)

    [(recipient, kind, event)] = _webhook_rows(db)
    assert (recipient, kind) == (HOOK_URL, "user.created")
    assert event["type"] == "user.created"
    assert event["user"] == {
        "id": created["id"],
        "email": "cy@example.org",
        "level": "admin",
        "status": "active",
    }
    assert created["one_time_password"] not in json.dumps(event)

    # Refused (the address is taken): exit 2 and no second event.
    again = _usher_add(db, "CY@example.org", **hooks)
    assert again.returncode == 2
    assert len(_webhook_rows(db)) == 1
    # Without USHER_WEBHOOK_URL an added user writes no event at all.
    plain = _usher_add(db, "dee@example.org")
    assert plain.returncode == 0, plain.stderr
    assert len(_webhook_rows(db)) == 1
