"""Webhooks follow Standard Webhooks (verified here with the `standardwebhooks` package itself),
event bodies never change once written, each carries the person's sequence, and the webhook
URL's credentials stay out of the logs."""

from __future__ import annotations

import asyncio
import base64
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from standardwebhooks import Webhook
from standardwebhooks.exceptions import WebhookVerificationError

from console.dialogs.outbox_message import describe
from store import Settings, SettingsError, Store, load_settings
from store.accounts.erasure import erase_users
from store.accounts.users import disable_user, enable_user, set_level
from store.database.migrations import MIGRATIONS
from store.messaging.outbox import list_messages
from store.messaging.webhook_delivery import run_webhook_delivery
from store.messaging.webhook_secret import MIN_BYTES, new_secret
from store.onboarding.approvals import approve

from .fixtures_operations import SECRET, Receiver, hooked_store, receiver, with_webhooks
from .fixtures_users import add_user
from .helpers import cheap_hasher, eventually, run_usher

__all__ = ["hooked_store", "receiver"]


async def _bodies(store: Store) -> list[dict[str, Any]]:
    rows = await store.engine.fetchall(
        "SELECT payload FROM outbox WHERE channel = 'webhook' ORDER BY id"
    )
    return [msgspec.json.decode(row["payload"]) for row in rows]


async def _deliver(store: Store, done: Any) -> None:
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_webhook_delivery(store, stop_event=stop, poll=0.05, base_delay=0.01, max_delay=0.05)
    )
    try:
        await eventually(done, timeout=20)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)


# ---------------------------------------------------------------- the secret


@pytest.mark.parametrize(
    "secret",
    [
        "x",
        "test-webhook-secret-0123456789",
        "whsec_" + base64.b64encode(b"too short, 23 bytes....").decode(),
        "whsec_not*base64*at*all",
    ],
)
def test_a_secret_that_is_not_whsec_with_24_bytes_is_refused(secret: str) -> None:
    with pytest.raises(SettingsError, match="USHER_WEBHOOK_SECRET"):
        load_settings({"webhook_url": "https://h.example/x", "webhook_secret": secret}, {})


def test_usher_serve_exits_2_on_a_bad_secret_with_one_line(tmp_path: Path) -> None:
    result = run_usher(
        "serve",
        "--db",
        str(tmp_path / "u.db"),
        "--port",
        "0",
        USHER_WEBHOOK_URL="http://127.0.0.1:9/hooks",
        USHER_WEBHOOK_SECRET="x",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "whsec_" in lines[0] and "usher webhooks secret" in lines[0]


def test_usher_webhooks_secret_prints_a_fresh_usable_secret() -> None:
    printed = [run_usher("webhooks", "secret").stdout.strip() for _ in range(2)]
    assert printed[0] != printed[1]
    for secret in printed:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= MIN_BYTES
        load_settings({"webhook_url": "https://h.example/x", "webhook_secret": secret}, {})
    # It works even while the configured secret is the bad one it is meant to replace.
    fixed = run_usher("webhooks", "secret", USHER_WEBHOOK_SECRET="x")
    assert fixed.returncode == 0 and fixed.stdout.startswith("whsec_")


# ---------------------------------------------------------------- signing


async def test_receivers_verify_with_the_standardwebhooks_package(
    hooked_store: Store, receiver: Receiver
) -> None:
    store = hooked_store
    ann = await add_user(store, "ann@example.org")
    await approve(store, [ann], actor="alice")
    await _deliver(store, lambda: _count(receiver, 1))
    requests = receiver.all()
    assert len(requests) == 3  # two answered 500, then accepted: one event, three attempts
    for request in requests:
        body = Webhook(SECRET).verify(request.body, request.headers)
        assert body["id"] == request.headers["webhook-id"]
        assert body["type"] == "user.approved"
        signature = request.headers["webhook-signature"]
        assert signature.startswith("v1,")
        # The timestamp is signed: replaying the request with another one fails...
        forged = {**request.headers, "webhook-timestamp": str(int(datetime.now(UTC).timestamp()))}
        if forged["webhook-timestamp"] != request.headers["webhook-timestamp"]:
            with pytest.raises(WebhookVerificationError):
                Webhook(SECRET).verify(request.body, forged)
        # ...and so is the body, and the key.
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(request.body + b" ", request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(request.body, request.headers)
    # An old request (captured, replayed later) is refused by the library's tolerance.
    old = requests[0]
    stale = int((datetime.now(UTC) - timedelta(minutes=10)).timestamp())
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    resigned = Webhook(key).sign(
        old.headers["webhook-id"], datetime.fromtimestamp(stale, UTC), old.body.decode()
    )
    replay = {**old.headers, "webhook-timestamp": str(stale), "webhook-signature": resigned}
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(old.body, replay)


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.accepted()) >= n


# ---------------------------------------------------------------- order and immutability


async def test_each_persons_events_carry_a_sequence_and_occurred_at(hooked_store: Store) -> None:
    store = hooked_store
    ann = await add_user(store, "ann@example.org")
    bob = await add_user(store, "bob@example.org")
    await approve(store, [ann, bob], actor="alice")
    await set_level(store, [ann], "viewer", actor="alice")
    await disable_user(store, ann, actor="alice")
    await enable_user(store, ann, actor="alice")
    await erase_users(store, [bob], actor="alice")
    bodies = await _bodies(store)
    per_person: dict[int, list[dict[str, Any]]] = {}
    for body in bodies:
        per_person.setdefault(body["user"]["id"], []).append(body)
    assert [b["sequence"] for b in per_person[ann]] == [1, 2, 3, 4]
    assert [b["type"] for b in per_person[ann]] == [
        "user.approved",
        "user.level_changed",
        "user.disabled",
        "user.enabled",
    ]
    stamps = [b["occurred_at"] for b in per_person[ann]]
    assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)
    # Bob's undelivered `user.approved` (sequence 1) was cancelled; `user.deleted` comes next.
    assert [(b["type"], b["sequence"]) for b in per_person[bob]] == [("user.deleted", 2)]


async def test_event_bodies_never_change_and_erasure_cancels_the_undelivered(
    settings: Settings,
) -> None:
    hooks = Receiver(fail_first=0)
    hooks.thread.start()
    try:
        configured = with_webhooks(settings, hooks.url)
        async with await Store.open(configured, hasher=cheap_hasher()) as store:
            ann = await add_user(store, "ann@example.org")
            bob = await add_user(store, "bob@example.org")
            await approve(store, [ann], actor="alice")
            await _deliver(store, lambda: _count(hooks, 1))  # Ann's approval is delivered
            await approve(store, [bob], actor="alice")
            await set_level(store, [ann], "viewer", actor="alice")
            query = "SELECT message_id, payload, status FROM outbox WHERE channel = 'webhook'"
            stored_before = await store.engine.fetchall(query + " ORDER BY id")
            await erase_users(store, [ann], actor="alice")
            stored_after = {str(r["message_id"]): r for r in await store.engine.fetchall(query)}
            for row in stored_before:  # by event id (row ids may be reused)
                body = msgspec.json.decode(row["payload"])
                if body["user"]["id"] == bob:  # someone else's: byte for byte the same
                    assert stored_after[str(row["message_id"])]["payload"] == row["payload"]
                elif row["status"] == "queued":  # Ann's undelivered event: cancelled
                    assert str(row["message_id"]) not in stored_after
            await _deliver(store, lambda: _count(hooks, 3))
            delivered = [msgspec.json.decode(r.body) for r in hooks.accepted()]
            assert [(b["type"], b["user"]["id"]) for b in delivered] == [
                ("user.approved", ann),
                ("user.approved", bob),
                ("user.deleted", ann),
            ]
            assert delivered[2]["sequence"] == 3  # approved 1, level_changed 2 (cancelled)
            # What went out is what was written: Bob's event arrived byte for byte as stored.
            [bob_row] = [
                r for r in stored_before if msgspec.json.decode(r["payload"])["user"]["id"] == bob
            ]
            assert hooks.accepted()[1].body == bob_row["payload"].encode()
    finally:
        hooks.server.shutdown()
        hooks.server.server_close()


# ---------------------------------------------------------------- credentials in the URL


async def test_the_webhook_urls_credentials_stay_out_of_logs_and_screens(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = Receiver(fail_first=1)
    hooks.thread.start()
    port = hooks.server.server_address[1]
    url = f"http://hookuser:hunter2-pass@127.0.0.1:{port}/hooks/usher?token=tok-s3cret"
    dead = "http://hookuser:hunter2-pass@127.0.0.1:9/hooks?token=tok-s3cret"
    try:
        for number, target in enumerate((url, dead)):
            configured = with_webhooks(settings, target)
            async with await Store.open(configured, hasher=cheap_hasher()) as store:
                person = await add_user(store, f"p{number}@example.org")
                await approve(store, [person], actor="alice")

                async def settled() -> bool:
                    rows = await store.engine.fetchall(
                        "SELECT status, attempts FROM outbox WHERE channel = 'webhook'"
                    )
                    return all(r["status"] == "sent" or r["attempts"] >= 1 for r in rows)

                with caplog.at_level(logging.DEBUG):
                    await _deliver(store, settled)
                messages = await list_messages(store)
                shown = [m.destination for m in messages]
                shown += [str(m.to_json()["recipient"]) for m in messages]  # `outbox list --json`
                shown += [describe(m, m.kind).plain for m in messages]  # the message dialog
                errors = await store.engine.fetchall("SELECT last_error FROM outbox")
                for text in [*shown, *(str(r["last_error"]) for r in errors)]:
                    assert "hunter2" not in text and "tok-s3cret" not in text
        assert hooks.accepted(), "the receiver was reached"
        assert "hunter2" not in caplog.text and "tok-s3cret" not in caplog.text
        assert "127.0.0.1" in caplog.text  # the logs do say where
    finally:
        hooks.server.shutdown()
        hooks.server.server_close()


# ---------------------------------------------------------------- migration


async def test_migration_11_keeps_existing_events(settings: Settings) -> None:
    """A database at version 8 with a queued event: migrated, the event is intact, and the
    next event of that person starts the sequence at 1."""
    before = [(v, sql) for v, sql in MIGRATIONS if v <= 8 and isinstance(sql, str)]
    with sqlite3.connect(settings.db) as conn:
        for version, script in before:
            conn.executescript(script.replace("{secret_key}", "00" * 32))
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute(
            "INSERT INTO outbox (channel, recipient, kind, payload, status, next_attempt_at,"
            " message_id, created_at) VALUES ('webhook', 'http://h/x', 'user.created',"
            ' \'{"id":"evt_old","user":{"id":7}}\', \'queued\', \'2026-01-01T00:00:00.000000Z\','
            " 'evt_old', '2026-01-01T00:00:00.000000Z')"
        )
    conn.close()
    hooks_settings = with_webhooks(settings, "http://127.0.0.1:9/hooks")
    async with await Store.open(hooks_settings, hasher=cheap_hasher()) as store:
        rows = await _bodies(store)
        assert rows == [{"id": "evt_old", "user": {"id": 7}}]
        ann = await add_user(store, "ann@example.org")
        await approve(store, [ann], actor="alice")
        assert (await _bodies(store))[-1]["sequence"] == 1
