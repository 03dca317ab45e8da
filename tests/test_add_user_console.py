"""The Add user screen (F6) under `App.run_test()` on a real database: fill and submit with the
keyboard, inline per-field errors as you type, a taken address offered to open, the generated
password shown once with a copy key, and the ways in (F6, `n` on Users, the command palette)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from console.dialogs.credential import CredentialDialog
from console.dialogs.user_detail import UserDetailDialog
from console.screens.add_user import AddUserScreen
from console.screens.users import UsersScreen
from store import Settings, Store
from store.domain.tokens import one_time_credential_matches
from store.onboarding.single_user import NewUserForm, UserAdded, add_user

from .helpers import GOOD_PASSWORD, cheap_hasher, eventually

SIZE = (80, 24)


def plain(widget: Static) -> str:
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


async def user_rows(app: UsherApp) -> list[dict[str, Any]]:
    assert app.store is not None
    rows = await app.store.engine.fetchall("SELECT * FROM users ORDER BY id")
    return [dict(zip(row.keys(), row, strict=True)) for row in rows]


async def written(app: UsherApp) -> tuple[int, ...]:
    assert app.store is not None
    counts = []
    for table in ("users", "outbox", "audit", "action_tokens"):
        counts.append(int(await app.store.engine.scalar(f"SELECT count(*) FROM {table}") or 0))  # noqa: S608
    return tuple(counts)


async def open_form(pilot: Pilot[int]) -> AddUserScreen:
    await pilot.press("f6")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, AddUserScreen)
    assert screen.query_one("#first", Input).has_focus
    return screen


async def type_fields(pilot: Pilot[int], first: str, last: str, email: str) -> None:
    """Typing the fields, moving on with enter and tab (not counted as "after typing")."""
    await pilot.press(*first, "enter", *last, "tab", *email)


def error_of(screen: AddUserScreen, selector: str) -> str:
    return plain(screen.query_one(f"{selector}-error", Static))


async def test_fill_submit_and_the_user_exists_with_the_level(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(pilot)
        await type_fields(pilot, "Ann", "Lee", "ann@acme.org")
        # After typing: tab to the level, two to the left (Admin), enter, ctrl+s — 5 keys;
        # an admin is asked about once (enter: "Yes, as admin").
        await pilot.press("tab", "left", "left", "enter", "ctrl+s")

        async def asked() -> bool:
            await pilot.pause()
            return isinstance(app.screen, AskDialog)

        await eventually(asked)
        assert "Make Ann Lee an admin?" in str(app.screen.query_one(".title", Static).render())
        await pilot.press("enter")

        async def created() -> bool:
            await pilot.pause()
            return bool(await user_rows(app))

        await eventually(created)
        [user] = await user_rows(app)
        assert (user["email"], user["first_name"], user["last_name"]) == (
            "ann@acme.org",
            "Ann",
            "Lee",
        )
        assert (user["level"], user["status"], user["source"]) == ("admin", "active", "single")
        assert user["password_hash"] is None and user["must_change_password"] == 0
        assert app.store is not None
        kinds = await app.store.engine.fetchall("SELECT kind, recipient FROM outbox")
        assert [tuple(row) for row in kinds] == [("account_created", "ann@acme.org")]

        await pilot.pause()
        outcome = plain(screen.query_one("#outcome", Static))
        assert "Added Ann Lee <ann@acme.org> as admin" in outcome
        assert screen.query_one("#email", Input).value == ""
        assert screen.query_one("#first", Input).has_focus
        assert not screen.query_one("#first", Input).has_class("-invalid")


async def test_invalid_email_is_marked_as_you_type_and_nothing_is_written(
    settings: Settings,
) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(pilot)
        await type_fields(pilot, "Ann", "Lee", "ann@acme")
        await pilot.pause()
        email = screen.query_one("#email", Input)
        assert email.has_class("-invalid")  # before any submit
        assert error_of(screen, "#email").startswith("✗ Not an email address")
        assert error_of(screen, "#first") == ""
        before = await written(app)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert email.has_focus and email.has_class("-invalid")
        assert await written(app) == before == (0, 0, 0, 0)

        await pilot.press(*".org")
        await pilot.pause()
        assert not email.has_class("-invalid") and error_of(screen, "#email") == ""


async def test_empty_required_fields_are_marked_on_submit(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(pilot)
        await pilot.pause()
        assert error_of(screen, "#first") == ""  # not before they had a chance
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert screen.query_one("#first", Input).has_class("-invalid")
        assert screen.query_one("#email", Input).has_class("-invalid")
        assert not screen.query_one("#last", Input).has_class("-invalid")  # optional
        assert screen.query_one("#first", Input).has_focus
        assert await written(app) == (0, 0, 0, 0)


async def test_a_taken_address_is_refused_and_offers_to_open_that_user(
    settings: Settings,
) -> None:
    async with await Store.open(settings, hasher=cheap_hasher()) as other:
        first = await add_user(
            other,
            NewUserForm(first_name="Ann", last_name="Lee", email="ann@acme.org"),
            actor="tester",
        )
        assert isinstance(first, UserAdded)
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(pilot)
        before = await written(app)
        # Submitted at once: the store refuses it even before the as-you-type lookup answers.
        await type_fields(pilot, "Annie", "Lee", "ANN@acme.org")
        await pilot.press("enter")

        async def refused() -> bool:
            await pilot.pause()
            return screen.taken is not None

        await eventually(refused)
        email = screen.query_one("#email", Input)
        assert email.has_class("-invalid") and email.has_focus
        assert "already has an account" in error_of(screen, "#email")
        assert screen.query_one("#open").display
        assert await written(app) == before

        await pilot.press("ctrl+o")

        async def opened() -> bool:
            await pilot.pause()
            return isinstance(app.screen, UserDetailDialog)

        await eventually(opened)
        assert app.current_mode == "users"
        detail = app.screen
        assert isinstance(detail, UserDetailDialog)
        assert detail.user_id == first.user.id


async def test_the_address_is_looked_up_as_you_type(settings: Settings) -> None:
    async with await Store.open(settings, hasher=cheap_hasher()) as other:
        await add_user(other, NewUserForm(first_name="Bo", email="bo@acme.org"), actor="t")
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(pilot)
        await type_fields(pilot, "Bo", "", "bo@acme.org")

        async def flagged() -> bool:
            await pilot.pause()
            return "already has an account" in error_of(screen, "#email")

        await eventually(flagged)
        await pilot.press("backspace")
        await pilot.pause()
        assert screen.taken is None and error_of(screen, "#email") == ""


async def test_generated_password_is_shown_once_and_copied(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(pilot)
        await type_fields(pilot, "Cy", "Young", "cy@acme.org")
        # tab tab (password choice), right (Generate one), enter, ctrl+s; then c, escape: 7 keys.
        await pilot.press("tab", "tab", "right", "enter", "ctrl+s")

        async def shown() -> bool:
            await pilot.pause()
            return isinstance(app.screen, CredentialDialog)

        await eventually(shown)
        dialog = app.screen
        assert isinstance(dialog, CredentialDialog)
        credential = dialog.credential
        [user] = await user_rows(app)
        assert one_time_credential_matches(str(user["password_hash"]), credential)
        assert user["must_change_password"] == 1
        await pilot.press("c")
        assert app.clipboard == credential
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert credential not in str(screen.query_one("#outcome", Static).render())


async def test_set_it_now_checks_the_policy_as_you_type(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(pilot)
        password = screen.query_one("#password", Input)
        assert not password.display or not screen.query_one("#password-row").display
        await type_fields(pilot, "Di", "Ambrose", "di@acme.org")
        await pilot.press("tab", "tab", "right", "right", "enter")
        await pilot.pause()
        assert screen.query_one("#password-row").display
        password.focus()
        await pilot.press(*"password")
        await pilot.pause()
        assert password.has_class("-invalid")
        assert "too common" in error_of(screen, "#password")
        password.value = ""
        await pilot.press(*GOOD_PASSWORD)
        await pilot.pause()
        assert not password.has_class("-invalid")
        await pilot.press("enter")

        async def created() -> bool:
            await pilot.pause()
            return bool(await user_rows(app))

        await eventually(created)
        [user] = await user_rows(app)
        assert str(user["password_hash"]).startswith("$argon2id$")
        assert user["must_change_password"] == 1


async def test_reached_from_users_and_from_the_palette(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f8")
        await pilot.pause()
        assert isinstance(app.screen, UsersScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, AddUserScreen)
        titles = [command.title for command in app.get_system_commands(app.screen_stack[-1])]
        assert "Go to Add user" in titles
