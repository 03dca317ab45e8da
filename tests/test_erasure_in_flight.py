"""Erasing a person while their email is being sent: the issue's reproduction. The relay holds
the answer to DATA (a gate the test opens), the victim's welcome mail is `sending`, the victim
is erased and a bystander added: the bystander's mail keeps its own payload and is delivered,
and the erasure's own `user.deleted` event reaches the webhook receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import msgspec
import pytest

from store import Settings, Store
from store.accounts.erasure import erase_users
from store.messaging.delivery import run_delivery
from store.messaging.outbox import send_test
from store.messaging.webhook_delivery import run_webhook_delivery
from store.onboarding.single_user import NewUserForm, UserAdded, add_user

from .fixtures_operations import Receiver, tables_mentioning, with_webhooks
from .fixtures_smtp import FAST, Gate, SmtpServer, running, with_smtp
from .helpers import cheap_hasher, eventually


@pytest.fixture
def open_receiver() -> Iterator[Receiver]:
    hooks = Receiver(fail_first=0)
    hooks.thread.start()
    try:
        yield hooks
    finally:
        hooks.server.shutdown()
        hooks.server.server_close()


async def _add(store: Store, first_name: str, email: str) -> int:
    outcome = await add_user(
        store, NewUserForm(first_name=first_name, last_name="Doe", email=email), actor="alice"
    )
    assert isinstance(outcome, UserAdded) and outcome.email_queued
    return outcome.user.id


@pytest.mark.parametrize("webhooks", [False, True], ids=["mail", "mail+webhooks"])
async def test_erasing_during_a_send_loses_no_one_elses_mail_or_event(
    settings: Settings, open_receiver: Receiver, webhooks: bool
) -> None:
    """Without webhooks the victim's welcome is the only row: erased, its id goes to the
    bystander's welcome. With webhooks, a second mail to the victim (the newest row) is held
    instead, and the erasure's `user.deleted` event takes its id."""
    relay = SmtpServer()
    gate = Gate(passes=1 if webhooks else 0)
    relay.handler.gate = gate
    with running(relay):
        configured = with_smtp(settings, relay.url)
        if webhooks:
            configured = with_webhooks(configured, open_receiver.url)
        async with await Store.open(configured, hasher=cheap_hasher()) as store:
            victim = await _add(store, "Vic", "victim@example.org")
            if webhooks:
                await send_test(store, "victim@example.org", "alice", name="Vic Doe")
            stop = asyncio.Event()
            mail = asyncio.create_task(run_delivery(store, stop_event=stop, **FAST))
            hooks: asyncio.Task[None] | None = None
            try:
                await gate.wait_arrived()  # a mail to the victim is in DATA
                erasing = asyncio.create_task(erase_users(store, [victim], actor="alice"))
                bystander = await _add(store, "Bea", "bystander@example.org")
                gate.release.set()
                report = await asyncio.wait_for(erasing, 60)
                assert [e.user_id for e in report.erased] == [victim]
                hooks = asyncio.create_task(
                    run_webhook_delivery(store, stop_event=stop, poll=0.05, base_delay=0.01)
                )

                async def delivered() -> bool:
                    if not relay.received_by("bystander@example.org"):
                        return False
                    if not webhooks:
                        return True
                    bodies = [msgspec.json.decode(r.body) for r in open_receiver.accepted()]
                    types = {(body["type"], body["user"]["id"]) for body in bodies}
                    return {("user.deleted", victim), ("user.created", bystander)} <= types

                await eventually(delivered, timeout=30)
            finally:
                stop.set()
                gate.release.set()
                await asyncio.wait_for(mail, 30)
                if hooks is not None:
                    await asyncio.wait_for(hooks, 30)
            [to_bystander] = relay.received_by("bystander@example.org")
            text = to_bystander.message.get_body(("plain",))
            assert text is not None and "Bea" in text.get_content()
            rows = await store.engine.fetchall(
                "SELECT channel, recipient, status, payload FROM outbox ORDER BY id"
            )
            email_rows = [r for r in rows if r["channel"] == "email"]
            assert [(r["recipient"], r["status"]) for r in email_rows] == [
                ("bystander@example.org", "sent")
            ]
            assert "Vic" not in email_rows[0]["payload"]
            hook_rows = [r for r in rows if r["channel"] == "webhook"]
            assert all(r["status"] == "sent" for r in hook_rows)
            if webhooks:
                events = {
                    (body["type"], body["user"]["id"])
                    for body in (msgspec.json.decode(r["payload"]) for r in hook_rows)
                }
                assert ("user.deleted", victim) in events
        assert tables_mentioning(settings.db, "victim@example.org") == []
