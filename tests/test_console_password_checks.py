"""The console's password strength checks (Add user's "Set it now", Bulk's "One for all") run in
a thread, never on the event loop: "checking…" while the estimate runs, then its verdict, and
when the admin types ahead only the newest password's verdict is shown.

The estimates are made to wait by holding zxcvbn's lock in another thread, so "checking…" is
seen for certain and an older answer can be made to arrive after a newer one."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
from rich.text import Text
from textual import events
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from console.app import UsherApp
from console.screens.add_user import AddUserScreen
from console.screens.bulk import BulkScreen
from store import Settings
from store.domain import passwords
from store.onboarding.single_user import NewUserForm, check_fields

from .helpers import eventually

SIZE = (80, 24)
FIRST, LAST, EMAIL = "Zephyrine", "Quist", "zq@acme.org"
WEAK = "Zephyrine4821"
"""Passes the cheap checks; only the estimate (with her name as context) refuses it."""
STRONG = WEAK + " violin harbour"


@pytest.fixture(autouse=True)
def estimate_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_remembered", {})


@contextlib.contextmanager
def estimates_held() -> Iterator[None]:
    """Every strength estimate waits until the block ends (another thread holds zxcvbn's
    lock). That thread lets go after 30 s whatever happens, so an estimate made on the event
    loop would fail the test's assertions instead of hanging it."""
    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        with passwords._zxcvbn_lock:
            taken.set()
            done.wait(timeout=30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    taken.wait()
    try:
        yield
    finally:
        done.set()
        holder.join()


def plain(widget: Static) -> str:
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


async def set_it_now(pilot: Pilot[int]) -> tuple[AddUserScreen, Input, Static]:
    """Add user with the names and address typed and "Set it now" chosen, the password field
    focused: (screen, password field, its message line)."""
    await pilot.press("f6")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, AddUserScreen)
    await pilot.press(*FIRST, "enter", *LAST, "tab", *EMAIL)
    await pilot.press("tab", "tab", "right", "right", "enter")
    await pilot.pause()
    password = screen.query_one("#password", Input)
    password.focus()
    await pilot.pause()
    return screen, password, screen.query_one("#password-error", Static)


async def test_add_user_shows_checking_then_the_verdict(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        screen, password, line = await set_it_now(pilot)
        with estimates_held():
            await pilot.press(*WEAK)

            async def checking() -> bool:
                await pilot.pause()
                return screen.strength.started >= 1 and plain(line) == "checking…"

            await eventually(checking)
            assert not password.has_class("-invalid")  # not refused before the verdict
            assert screen.strength.returned == 0  # the estimate is waiting in its thread

        async def refused() -> bool:
            await pilot.pause()
            return "built on your name" in plain(line)

        await eventually(refused)
        assert password.has_class("-invalid")
        assert plain(line).startswith("✗ This password is easy to guess")


async def test_add_user_typed_ahead_shows_only_the_newest_verdict(settings: Settings) -> None:
    strong_form = NewUserForm(
        first_name=FIRST, last_name=LAST, email=EMAIL, choice="set", password=STRONG
    )
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        screen, password, line = await set_it_now(pilot)
        # The strong password's estimate is remembered: it answers without zxcvbn's lock,
        # so the weak one's answer (held below) comes back after it.
        assert "password" not in check_fields(strong_form, org=settings.org)
        with estimates_held():
            await pilot.press(*WEAK)

            async def weak_started() -> bool:
                await pilot.pause()
                return screen.strength.started >= 1

            await eventually(weak_started)
            await pilot.press(*STRONG[len(WEAK) :])

            async def strong_shown() -> bool:
                await pilot.pause()
                return screen.strength.answer(strong_form) is not None

            await eventually(strong_shown)
            assert plain(line) == ""
            assert screen.strength.returned < screen.strength.started  # the weak one waits

        async def all_back() -> bool:
            await pilot.pause()
            return screen.strength.returned == screen.strength.started

        await eventually(all_back)
        await pilot.pause()
        assert password.value == STRONG
        assert plain(line) == ""  # the weak password's late "easy to guess" was dropped
        assert not password.has_class("-invalid")
        assert screen.strength.answer(strong_form) == (None,)


async def test_bulk_one_for_all_shows_checking_then_the_verdict(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("f7")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BulkScreen)
        screen.query_one("#mode").focus()
        await pilot.press("right", "enter")
        assert screen.mode == "same"
        screen.query_one("#shared", Input).focus()
        label = screen.query_one("#shared-problem", Static)
        with estimates_held():
            await pilot.press(*"Welcome2024!")

            async def checking() -> bool:
                await pilot.pause()
                return screen.shared_check.started >= 1 and plain(label) == "checking…"

            await eventually(checking)
            assert screen.shared_check.returned == 0

        async def refused() -> bool:
            await pilot.pause()
            return plain(label).startswith("This password is easy to guess")

        await eventually(refused)
        assert screen.query_one("#add", Button).disabled


async def test_bulk_given_preview_shows_checking_then_the_verdict(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("f7")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BulkScreen)
        screen.query_one("#mode").focus()
        await pilot.press("right", "right", "enter")
        assert screen.mode == "given"
        summary = screen.query_one("#summary", Static)
        with estimates_held():
            screen.lines_area.focus()
            await pilot.pause()
            app.post_message(events.Paste(f"{FIRST} {LAST},{EMAIL},{WEAK}"))

            async def checking() -> bool:
                await pilot.pause()
                return plain(summary) == "Preview: checking passwords…"

            await eventually(checking)
            assert screen.preview is None or screen.preview.total == 0

        async def previewed() -> bool:
            await pilot.pause()
            return screen.preview is not None and screen.preview.total == 1

        await eventually(previewed)
        assert screen.preview is not None
        assert "weak password: this password is easy to guess" in screen.preview.lines[0].error
        assert plain(summary).startswith("Preview: 0 ready")
