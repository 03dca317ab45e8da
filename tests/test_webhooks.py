"""Webhooks: every account event is an outbox row written with its change, delivered to a real
HTTP receiver on loopback with retries (at-least-once, stable event ids, valid signatures), and
shown on the Outbox screen beside emails."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from rich.text import Text
from standardwebhooks import Webhook
from standardwebhooks.exceptions import WebhookVerificationError
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from console.app import UsherApp
from store import Settings, SettingsError, Store, load_settings
from store.accounts.erasure import erase_users
from store.accounts.users import disable_user, enable_user, set_level
from store.messaging.delivery import DeliveryPolicy, DeliveryWorker
from store.messaging.webhook_delivery import run_webhook_delivery
from store.messaging.webhook_secret import new_secret
from store.messaging.webhooks import EVENT_ID_HEADER, emit
from store.onboarding.accounts_create import AccountOptions, NewAccount, create_accounts
from store.onboarding.approvals import approve, reject
from store.onboarding.invitations import AcceptForm, accept_invitation
from store.onboarding.signup import confirm_email, expire_unconfirmed, sign_up_by_link

from .fixtures_invitations import accept_link, invite, token_of
from .fixtures_operations import SECRET, Receiver, hooked_store, receiver, with_webhooks
from .fixtures_users import add_user
from .helpers import GOOD_PASSWORD, age_user, cheap_hasher, eventually, form, make_link, outbox_rows
from .helpers import token_in as token_from

__all__ = ["hooked_store", "receiver"]


async def events(store: Store) -> list[dict[str, Any]]:
    rows = await store.engine.fetchall(
        "SELECT payload FROM outbox WHERE channel = 'webhook' ORDER BY id"
    )
    return [msgspec.json.decode(row["payload"]) for row in rows]


async def test_every_account_event_is_written_with_its_change(hooked_store: Store) -> None:
    store = hooked_store
    link = await make_link(store, auto_accept=False)
    signed = await sign_up_by_link(store, link.token, form("ann@example.org"), actor="w")
    [mail] = await outbox_rows(store, "confirm_email")
    await confirm_email(store, token_from(mail["values"]["confirm_url"], "confirm"), actor="w")
    assert signed.user_id is not None
    ann = signed.user_id
    await approve(store, [ann], actor="alice")
    bea = await add_user(store, "bea@example.org")
    await reject(store, [bea], actor="alice")
    await set_level(store, [ann], "viewer", actor="alice")
    await disable_user(store, ann, actor="alice")
    await enable_user(store, ann, actor="alice")
    await invite(store, "cat@example.org")
    await accept_invitation(
        store,
        token_of(await accept_link(store, "cat@example.org")),
        AcceptForm(
            first_name="Cat", last_name="Ng", password=GOOD_PASSWORD, password_confirm=GOOD_PASSWORD
        ),
        actor="w",
    )
    await create_accounts(
        store,
        [NewAccount(email="dan@example.org", first_name="Dan")],
        AccountOptions(level="manager", source="single"),
        actor="alice",
        action="user_added",
        describe=lambda outcome: ("dan@example.org", {}),
    )
    late = await sign_up_by_link(
        store, (await make_link(store)).token, form("eve@example.org"), actor="w"
    )
    await age_user(store, "eve@example.org", timedelta(hours=25))
    assert await expire_unconfirmed(store) == 1
    before_erasure = await events(store)
    await erase_users(store, [ann], actor="alice")

    seen = [(body["type"], body["user"]) for body in before_erasure]
    assert [kind for kind, _ in seen] == [
        "user.created",
        "user.confirmed",
        "user.approved",
        "user.rejected",
        "user.level_changed",
        "user.disabled",
        "user.enabled",
        "user.created",
        "user.created",
        "user.created",
        "user.deleted",
    ]
    # Erasing Ann cancels her undelivered events (never rewritten) and adds `user.deleted`.
    after = await events(store)
    assert after[:-1] == [body for body in before_erasure if body["user"]["id"] != ann]
    assert after[-1]["type"] == "user.deleted" and after[-1]["user"] == {"id": ann}
    cat, dan = seen[7][1], seen[8][1]
    assert cat == {
        "id": cat["id"],
        "email": "cat@example.org",
        "level": "member",
        "status": "active",
    }
    assert dan["level"] == "manager" and dan["status"] == "active"
    assert seen[9][1]["status"] == "unconfirmed"
    assert seen[10][1] == {"id": late.user_id}
    # Bea was never erased: her rejection still carries her address.
    assert seen[3][1]["email"] == "bea@example.org"
    bodies = before_erasure
    level_change = bodies[4]
    assert level_change["previous"] == {"level": "member"}
    assert len({body["id"] for body in bodies}) == len(bodies)


async def test_without_a_url_nothing_is_written(settings: Settings) -> None:
    async with await Store.open(settings, hasher=cheap_hasher(), watch=False) as store:
        user = await add_user(store, "ann@example.org")
        await approve(store, [user], actor="alice")
        assert await events(store) == []


async def test_a_rolled_back_change_sends_nothing(hooked_store: Store) -> None:
    user = await add_user(hooked_store, "ann@example.org", status="active")
    with pytest.raises(RuntimeError):
        async with hooked_store.write("users") as tx:
            row = await tx.fetchone(
                "UPDATE users SET status = 'disabled' WHERE id = ? RETURNING *", (user,)
            )
            await emit(tx, hooked_store.settings, "user.disabled", row)
            raise RuntimeError("the change fails after the event was written")
    assert await events(hooked_store) == []
    assert await hooked_store.engine.scalar("SELECT status FROM users") == "active"


async def test_delivery_retries_until_accepted_once_each_with_valid_signatures(
    hooked_store: Store, receiver: Receiver
) -> None:
    store = hooked_store
    ids = [await add_user(store, f"p{i}@example.org") for i in range(3)]
    await approve(store, ids, actor="alice")
    written = {str(body["id"]) for body in await events(store)}
    assert len(written) == 3
    # The mail worker leaves webhook rows alone (they are not its channel).
    mail_worker = DeliveryWorker(store, None, DeliveryPolicy(), "mail-worker")
    assert await mail_worker.claim() == []

    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_webhook_delivery(store, stop_event=stop, poll=0.05, base_delay=0.01, max_delay=0.05)
    )

    async def all_sent() -> bool:
        rows = await store.engine.fetchall("SELECT status FROM outbox WHERE channel = 'webhook'")
        return all(row["status"] == "sent" for row in rows)

    try:
        await eventually(all_sent)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)

    requests = receiver.all()
    assert [r.status for r in requests[:2]] == [500, 500]
    accepted = receiver.accepted()
    received_ids = [r.headers[EVENT_ID_HEADER] for r in accepted]
    assert sorted(received_ids) == sorted(written), "each event once per success"
    for request in requests:
        body = msgspec.json.decode(request.body)
        assert request.headers[EVENT_ID_HEADER] == body["id"]
        assert body["type"] == "user.approved" and body["user"]["status"] == "active"
        assert Webhook(SECRET).verify(request.body, request.headers) == body
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(request.body, request.headers)
    # The failed attempts were retried with the same event id (receivers deduplicate on it).
    assert {r.headers["webhook-id"] for r in requests[:2]} <= set(received_ids)
    attempts = await store.engine.scalar(
        "SELECT sum(attempts) FROM outbox WHERE channel = 'webhook'"
    )
    assert attempts == len(written) + 2


def test_webhook_settings_are_checked() -> None:
    with pytest.raises(SettingsError, match="webhook_secret is required"):
        load_settings({"webhook_url": "https://hooks.example.org/usher"}, environ={})
    with pytest.raises(SettingsError, match="must start with http"):
        load_settings({"webhook_url": "ftp://x", "webhook_secret": SECRET}, environ={})
    loaded = load_settings(
        environ={"USHER_WEBHOOK_URL": "https://h.example/x", "USHER_WEBHOOK_SECRET": SECRET}
    )
    assert loaded.webhooks_configured and loaded.webhook_secret == SECRET


async def test_outbox_screen_shows_webhook_deliveries_beside_emails(
    settings: Settings, receiver: Receiver
) -> None:
    hooked = with_webhooks(settings, receiver.url)
    async with await Store.open(hooked, hasher=cheap_hasher(), watch=False) as store:
        user = await add_user(store, "ann@example.org")
        await approve(store, [user], actor="alice")
    app = UsherApp(hooked, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f9")

        async def shown() -> bool:
            await pilot.pause()
            tables = app.screen.query("#outbox")
            return bool(tables) and tables.first(DataTable).row_count == 2

        await eventually(shown)
        table = app.screen.query_one("#outbox", DataTable)
        recipients = {_plain(table.get_cell_at(Coordinate(row, 2))) for row in range(2)}
        kinds = {_plain(table.get_cell_at(Coordinate(row, 3))) for row in range(2)}
        host = receiver.url.split("/")[2]
        assert recipients == {"ann@example.org", f"webhook {host}"}
        assert kinds == {"approved", "user.approved"}


def _plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)
