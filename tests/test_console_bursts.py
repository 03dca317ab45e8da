"""Typed-ahead keys land where the admin meant: a burst (as SSH delivers keys, or anyone who
types ahead) gives exactly what the same keys typed one by one give, in every form."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from console.app import UsherApp
from console.screens.add_user import AddUserScreen
from store import Settings

from .bursts import burst
from .helpers import eventually

SIZE = (80, 24)


async def users(app: UsherApp, count: int) -> list[tuple[Any, ...]]:
    """The users once there are `count` of them: (first, last, email, level)."""
    assert app.store is not None
    store = app.store

    async def enough() -> bool:
        return int(await store.engine.scalar("SELECT count(*) FROM users") or 0) >= count

    await eventually(enough)
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
