"""Typed-ahead keys land where the admin meant: a burst (as SSH delivers keys, or anyone who
types ahead) gives exactly what the same keys typed one by one give, in every form."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Input, TextArea

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from console.dialogs.credential import CredentialDialog
from console.screens.add_user import AddUserScreen
from store import Settings

from .bursts import burst
from .fixtures_users import add_link, add_user
from .helpers import eventually
from .screen_text import screen_lines

SIZE = (80, 24)


async def users(app: UsherApp, count: int) -> list[tuple[Any, ...]]:
    """The users once there are `count` of them: (first, last, email, level)."""
    assert app.store is not None
    store = app.store

    async def enough() -> bool:
        return int(await store.engine.scalar("SELECT count(*) FROM users") or 0) >= count

    await eventually(enough, timeout=30)
    rows = await store.engine.fetchall(
        "SELECT first_name, last_name, email, level FROM users ORDER BY id"
    )
    return [tuple(row) for row in rows]


async def test_add_user_enter_burst_submits_what_was_typed_before_enter(settings: Settings) -> None:
    """The issue's burst: F6, Cy ⏎ Young ⏎ cy@example.org ⏎ Dee, in one read."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        burst(app, "f6", "Cy", "enter", "Young", "enter", "cy@example.org", "enter", "Dee")
        assert await users(app, 1) == [("Cy", "Young", "cy@example.org", "member")]

        async def typed_ahead() -> bool:
            await pilot.pause()
            return app.screen.query_one("#first", Input).value == "Dee"

        await eventually(typed_ahead)
        screen = app.screen
        assert isinstance(screen, AddUserScreen)
        assert screen.query_one("#first", Input).has_focus


async def test_add_user_tab_bursts_fill_each_field_and_the_next_person(settings: Settings) -> None:
    """`Ann ⇥ Lee ⇥ ann.lee@example.org` used to land all in First name; the next burst then
    created "AnnLeeann.lee@example.org <BoStonebo@example.org>"."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await pilot.pause()
        burst(app, "Ann", "tab", "Lee", "tab", "ann.lee@example.org", "enter")
        burst(app, "Bo", "tab", "Stone", "tab", "bo@example.org", "enter")
        assert await users(app, 2) == [
            ("Ann", "Lee", "ann.lee@example.org", "member"),
            ("Bo", "Stone", "bo@example.org", "member"),
        ]


async def rows_of(app: UsherApp, sql: str, count: int) -> list[tuple[Any, ...]]:
    """The rows of `sql` once there are `count` of them."""
    assert app.store is not None
    store = app.store

    async def enough() -> bool:
        return len(await store.engine.fetchall(sql)) >= count

    await eventually(enough, timeout=30)
    return [tuple(row) for row in await store.engine.fetchall(sql)]


async def test_link_form_bursts_create_exactly_the_links_typed(settings: Settings) -> None:
    """`n Spring cohort ⏎ n Wiki ctrl+s` in one read: two links, each with its own label."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        burst(app, "n", "Spring cohort", "enter", "n", "Wiki", "ctrl+s")
        labels = await rows_of(app, "SELECT label, level FROM invite_links ORDER BY id", 2)
        assert labels == [("Spring cohort", "member"), ("Wiki", "member")]


async def test_reject_reason_burst_is_the_reason_stored(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.store is not None
        link = await add_link(app.store)
        await add_user(app.store, "bea@example.org", link_id=link)
        await pilot.press("f2")

        async def listed() -> bool:
            await pilot.pause()
            return "bea@example.org" in str(app.screen.query_one(DataTable).get_row_at(0))

        await eventually(listed)
        burst(app, "r", "Not staff", "enter", "q")

        async def quit_() -> bool:
            return app.return_code is not None

        await eventually(quit_, timeout=30)  # `q` quits only once the decision is stored
    with sqlite3.connect(settings.db) as conn:
        rows = conn.execute("SELECT status, decision_reason FROM users").fetchall()
    conn.close()
    assert rows == [("rejected", "Not staff")]


async def test_path_dialog_burst_exports_to_the_path_typed(
    settings: Settings, tmp_path: Path
) -> None:
    app = UsherApp(settings, no_server=True)
    target = tmp_path / "out.csv"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f8")
        await pilot.pause()
        burst(app, "x", "ctrl+u", str(target), "enter", "x")

        async def written() -> bool:
            await pilot.pause()
            return target.exists()

        await eventually(written)
        assert target.read_text().startswith("id,")


async def test_invite_burst_sends_exactly_the_lines_typed(settings: Settings) -> None:
    """The addresses typed, ctrl+s, ⏎ on "Send", and the next address — in one read."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        burst(app, "ann@example.org", "enter", "bo@example.org", "ctrl+s", "enter", "cy@x.org")
        sent = await rows_of(app, "SELECT email FROM invitations ORDER BY email", 2)
        assert sent == [("ann@example.org",), ("bo@example.org",)]

        async def typed_ahead() -> bool:
            await pilot.pause()
            return app.screen.query_one("#paste", TextArea).text == "cy@x.org"

        await eventually(typed_ahead)


async def test_bulk_burst_creates_exactly_the_lines_typed(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f7")
        await pilot.pause()
        burst(app, "Ann Lee,ann@example.org", "enter", "Bo Stone,bo@example.org", "ctrl+s", "enter")
        created = await rows_of(
            app, "SELECT first_name, last_name, email FROM users ORDER BY id", 2
        )
        assert created == [("Ann", "Lee", "ann@example.org"), ("Bo", "Stone", "bo@example.org")]


async def test_add_user_starts_each_person_at_the_defaults(settings: Settings) -> None:
    """After an admin with a generated password, `Ivy ⏎ Lane ⏎ ivy@example.org ⏎` used to
    create another admin with a generated password."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await pilot.pause()
        # Ann, admin (two left of member), generate one (right), ctrl+s, "Yes, as admin".
        burst(app, "Ann", "enter", "Lee", "enter", "ann@example.org", "tab", "left", "left")
        burst(app, "enter", "tab", "right", "enter", "ctrl+s", "enter")

        async def shown() -> bool:
            await pilot.pause()
            return isinstance(app.screen, CredentialDialog)

        await eventually(shown)
        await pilot.press("escape")
        await pilot.pause()
        burst(app, "Ivy", "enter", "Lane", "enter", "ivy@example.org", "enter")
        assert await users(app, 2) == [
            ("Ann", "Lee", "ann@example.org", "admin"),
            ("Ivy", "Lane", "ivy@example.org", "member"),
        ]
        assert app.store is not None
        hashes = await app.store.engine.fetchall("SELECT password_hash FROM users ORDER BY id")
        assert hashes[0][0] is not None and hashes[1][0] is None  # Ivy chooses by link


async def test_add_user_asks_once_before_an_admin_and_escape_writes_nothing(
    settings: Settings,
) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await pilot.pause()
        burst(app, "Ann", "enter", "Lee", "enter", "ann@example.org", "tab", "left", "left")
        burst(app, "enter", "ctrl+s")

        async def asked() -> bool:
            await pilot.pause()
            return isinstance(app.screen, AskDialog)

        await eventually(asked)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AddUserScreen)
        assert app.store is not None
        assert await app.store.engine.scalar("SELECT count(*) FROM users") == 0
        await pilot.press("ctrl+s")
        await eventually(asked)
        await pilot.press("enter")
        assert await users(app, 1) == [("Ann", "Lee", "ann@example.org", "admin")]


async def test_an_admin_link_and_an_admin_level_are_asked_about_once(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.store is not None
        store = app.store
        await pilot.press("f3")
        await pilot.pause()
        burst(app, "n", "Staff", "tab", "left", "left", "enter", "ctrl+s")

        async def asked() -> bool:
            await pilot.pause()
            return isinstance(app.screen, AskDialog)

        await eventually(asked)
        await pilot.press("escape")
        await pilot.pause()
        assert await store.engine.scalar("SELECT count(*) FROM invite_links") == 0
        burst(app, "n", "Staff", "tab", "left", "left", "enter", "ctrl+s", "enter")
        assert await rows_of(app, "SELECT label, level FROM invite_links", 1) == [
            ("Staff", "admin")
        ]
        link = await add_link(store)
        await add_user(store, "bea@example.org", link_id=link)
        await pilot.press("f2")

        async def listed() -> bool:
            await pilot.pause()
            return app.screen.query_one(DataTable).row_count == 1

        await eventually(listed)
        burst(app, "l", "up", "up", "enter")
        await eventually(asked)
        await pilot.press("enter")
        assert await rows_of(app, "SELECT level FROM users WHERE level = 'admin'", 1) == [
            ("admin",)
        ]


async def test_link_form_password_tick_then_tab_then_type_sets_the_password(
    settings: Settings,
) -> None:
    """Ticking "Require a password" moved the focus into the field unseen; the Tab after it
    then skipped the field and the password typed went nowhere."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        dialog = app.screen
        # Label, level, auto-accept, confirm, then the password tick: four tabs.
        burst(app, "Door", "tab", "tab", "tab", "tab", "space", "tab", "sesame-door", "ctrl+s")
        [(label, hashed)] = await rows_of(app, "SELECT label, password_hash FROM invite_links", 1)
        assert label == "Door" and hashed, dialog
        text = " ".join(screen_lines(app))
        assert "link link password" not in text


async def test_link_form_row_does_not_read_link_link_password(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "n")
        await pilot.pause()
        text = " ".join(screen_lines(app))
        assert "Require a password to use this link" in text
        assert "link link password" not in text


async def test_f2_then_a_in_one_burst_approves_the_person_shown(settings: Settings) -> None:
    """`a` typed right behind F2 waits for the table's first load: it used to reach an empty
    table and answer "No one to approve here" (seen over SSH)."""
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.store is not None
        link = await add_link(app.store)
        await add_user(app.store, "bea@example.org", link_id=link)
        await pilot.pause()
        burst(app, "f2", "a")
        rows = await rows_of(app, "SELECT email FROM users WHERE status = 'active'", 1)
        assert rows == [("bea@example.org",)]


async def test_disable_escape_quit_burst_in_a_user_detail_stores_the_disable(
    settings: Settings,
) -> None:
    """`d ⎋ q` typed at once in a user's detail: the disable started by `d` is stored, though
    the dialog it ran in closes and the console quits right behind it."""
    from console.dialogs.user_detail import UserDetailDialog

    from .test_users_console import open_users

    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.store is not None
        await add_user(app.store, "zed@example.org", status="active", source="single")
        await open_users(pilot, app, 1)
        await pilot.press("enter")

        async def detail_shown() -> bool:
            await pilot.pause()
            screen = app.screen
            return isinstance(screen, UserDetailDialog) and screen.user is not None

        await eventually(detail_shown)
        burst(app, "d", "escape", "q")

        async def quit_() -> bool:
            return app.return_code is not None

        await eventually(quit_, timeout=30)
    with sqlite3.connect(settings.db) as conn:
        rows = conn.execute("SELECT status FROM users").fetchall()
    conn.close()
    assert rows == [("disabled",)]
