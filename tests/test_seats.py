"""`USHER_SEAT_LIMIT`: at the limit of active accounts, new link sign-ups wait as pending (with
or without email confirmation, however many race for the last seat), and the dashboard shows
the seats used and why people wait."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from textual.widgets import Static

from console.app import UsherApp
from store import Settings, SettingsError, Store, load_settings
from store.onboarding.signup import confirm_email, sign_up_by_link

from .fixtures_postgres import settings_on_both_engines
from .helpers import cheap_hasher, eventually, form, make_link, outbox_rows, token_in

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


async def open_store(settings: Settings, limit: int) -> Store:
    return await Store.open(
        msgspec.structs.replace(settings, seat_limit=limit), hasher=cheap_hasher()
    )


async def test_sign_ups_past_the_limit_wait_as_pending(settings: Settings) -> None:
    async with await open_store(settings, 2) as store:
        link = await make_link(store, confirm_email=False)
        kinds = [
            (await sign_up_by_link(store, link.token, form(f"p{i}@example.org"), actor="t")).kind
            for i in range(3)
        ]
        assert kinds == ["active", "active", "pending"]
        statuses = await store.engine.fetchall("SELECT status FROM users ORDER BY id")
        assert [row["status"] for row in statuses] == ["active", "active", "pending"]


async def test_a_confirmation_past_the_limit_waits_as_pending(settings: Settings) -> None:
    async with await open_store(settings, 1) as store:
        link = await make_link(store)  # confirm_email, auto-accept
        for address in ("a@example.org", "b@example.org"):
            await sign_up_by_link(store, link.token, form(address), actor="t")
        confirms = [
            token_in(row["values"]["confirm_url"], "confirm")
            for row in await outbox_rows(store, "confirm_email")
        ]
        first = await confirm_email(store, confirms[0], actor="t")
        second = await confirm_email(store, confirms[1], actor="t")
        assert (first.status, second.status) == ("active", "pending")


async def test_racing_sign_ups_share_the_last_seat(settings: Settings) -> None:
    async with await open_store(settings, 1) as store:
        link = await make_link(store, confirm_email=False)
        outcomes = await asyncio.gather(
            *(
                sign_up_by_link(store, link.token, form(f"r{i}@example.org"), actor="t")
                for i in range(6)
            )
        )
        assert sorted(o.kind for o in outcomes) == ["active"] + ["pending"] * 5


async def test_links_that_need_approval_and_no_limit_are_unchanged(settings: Settings) -> None:
    async with await open_store(settings, 0) as store:
        link = await make_link(store, confirm_email=False)
        kinds = {
            (await sign_up_by_link(store, link.token, form(f"n{i}@example.org"), actor="t")).kind
            for i in range(3)
        }
        assert kinds == {"active"}
        approval = await make_link(store, confirm_email=False, auto_accept=False)
        outcome = await sign_up_by_link(store, approval.token, form("q@example.org"), actor="t")
        assert outcome.kind == "pending"


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(SettingsError, match="seat_limit"):
        load_settings({}, environ={"USHER_SEAT_LIMIT": "-1"})
    assert load_settings({}, environ={"USHER_SEAT_LIMIT": "25"}).seat_limit == 25


async def test_the_dashboard_shows_seats_used_and_why_people_wait(settings: Settings) -> None:
    async with await open_store(settings, 1) as store:
        link = await make_link(store, confirm_email=False)
        for address in ("a@example.org", "b@example.org"):
            await sign_up_by_link(store, link.token, form(address), actor="t")
    app = UsherApp(msgspec.structs.replace(settings, seat_limit=1), no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:

        async def shown() -> bool:
            await pilot.pause()
            return app.counts is not None and app.counts.pending == 1

        await eventually(shown)
        active = str(app.screen.query_one("#fig-active", Static).render())
        pending = str(app.screen.query_one("#fig-pending", Static).render())
    assert "1 of 1 seats used" in active
    assert "seats full: link sign-ups wait here" in pending
