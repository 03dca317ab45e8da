"""Fixes from the console UX review of the dialogs (and the store behind them): level order and
colour-free toggles in the link form, plurals, naming who was erased, clipped link-details cells,
a bulk-imported user's history, and the console actor without $USER."""

from __future__ import annotations

import os
import pwd
from typing import Any

from textual.widgets import Checkbox, DataTable, RadioSet

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from console.dialogs.bulk_result import result_notes
from console.dialogs.erase_user import ask_and_erase
from console.dialogs.link_details import LinkDetailsScreen
from console.dialogs.link_form import LinkFormDialog
from console.screens.base import UsherScreen
from console.words import counted
from store import Settings, Store
from store.accounts.audit import console_actor
from store.accounts.users import get_user, user_history
from store.database.migrations import LEVELS
from store.onboarding.bulk import BulkOptions, BulkResult, create_batch, preview
from store.onboarding.bulk_lines import EXISTS, BulkLine
from store.onboarding.links import LinkDraft, link_members
from store.onboarding.single_user import NewUserForm, UserAdded
from store.onboarding.single_user import add_user as add_single_user

from .fixtures_users import add_user
from .helpers import make_link
from .test_approvals_console import Recorder, until

SIZE = (80, 24)
ACTOR = "alice (ssh 10.0.0.7)"


async def test_link_form_lists_levels_in_store_order_and_arrows_start_at_member(
    settings: Settings,
) -> None:
    app = UsherApp(settings, no_server=True)
    drafts: list[LinkDraft | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dialog = LinkFormDialog(smtp_configured=False)
        app.push_screen(dialog, drafts.append)
        await pilot.pause()
        levels = dialog.query_one("#level", RadioSet)
        assert [button.name for button in levels.query("RadioButton")] == list(LEVELS)
        assert levels.pressed_button is not None and levels.pressed_button.name == "member"
        # From the label: tab to the levels, one to the right is the one after member.
        await pilot.press("tab", "right", "enter", "ctrl+s")
        await pilot.pause()
    assert len(drafts) == 1 and drafts[0] is not None
    assert drafts[0].level == LEVELS[LEVELS.index("member") + 1]


def toggle_text(box: Checkbox) -> str:
    rendered: Any = box.render()
    return str(getattr(rendered, "plain", rendered))


async def test_link_form_toggles_read_on_and_off_without_colour(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dialog = LinkFormDialog(smtp_configured=False)
        app.push_screen(dialog)
        await pilot.pause()
        box = dialog.query_one("#auto-accept", Checkbox)
        assert box.value is True
        assert toggle_text(box).startswith("[x]")
        box.value = False
        await pilot.pause()
        assert toggle_text(box).startswith("[ ]")
        levels = dialog.query_one("#level", RadioSet)
        marks = [str(getattr(b.render(), "plain", "")) for b in levels.query("RadioButton")]
        assert [mark[:3] for mark in marks] == ["( )", "( )", "(•)", "( )"]


def bulk_result(*, emails: int, skipped: int) -> BulkResult:
    lines = tuple(
        BulkLine(line=n + 2, input=f"bad{n}", email=f"bad{n}", problems=(EXISTS,))
        for n in range(skipped)
    )
    return BulkResult(
        batch_id="b1",
        level="member",
        passwords="random",
        total=1 + skipped,
        created=(),
        skipped=lines,
        emails_queued=emails,
    )


def test_bulk_result_notes_agree_in_number() -> None:
    one = result_notes(bulk_result(emails=1, skipped=1), smtp=True)
    assert "1 email with a set-password link queued." in one
    assert any(note.startswith("1 line skipped") for note in one)
    two = result_notes(bulk_result(emails=2, skipped=2), smtp=True)
    assert "2 emails with a set-password link queued." in two
    assert any(note.startswith("2 lines skipped") for note in two)
    assert counted(1, "one-time password") == "1 one-time password"
    assert counted(1_000, "skipped line") == "1,000 skipped lines"


async def test_erased_message_names_the_address_and_id(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        user_id = await add_user(store, "ann@acme.org", first="Ann", status="active")
    recorder = Recorder()
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE, message_hook=recorder) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, UsherScreen)
        await ask_and_erase(screen, user_id)
        await until(pilot, lambda: isinstance(app.screen, AskDialog))
        await pilot.press("y")
        await until(pilot, lambda: recorder.saw("Erased"))
    [message] = [m for m in recorder.messages if m.startswith("Erased")]
    assert "ann@acme.org" in message and f"#{user_id}" in message


async def test_link_details_clips_long_cells_so_every_column_fits_at_80(
    settings: Settings,
) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.store is not None
        link = await make_link(app.store, label="Spring")
        long_name = "Bartholomew-Maximilian " * 3
        await add_user(
            app.store,
            "bartholomew.maximilian.von.longname@very-long-department.example.org",
            first=long_name,
            last="Featherstonehaugh",
            source="link",
            link_id=link.id,
        )
        members = await link_members(app.store, link.id)
        app.push_screen(LinkDetailsScreen(link, link.url(app.settings), members))
        await until(pilot, lambda: isinstance(app.screen, LinkDetailsScreen))
        table = app.screen.query_one("#members", DataTable)
        await pilot.pause()
        assert table.row_count == 1
        name = table.get_row_at(0)[0]
        assert name.plain.startswith("Bartholomew") and name.plain.endswith("…")
        # Every column (Joined and State included) fits: nothing to scroll sideways.
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert table.max_scroll_x == 0


async def test_history_shows_the_creation_of_bulk_and_single_users(fast_store: Store) -> None:
    options = BulkOptions(passwords="random", level="viewer")
    parsed = await preview(fast_store, "Ann Lee, ann@acme.org\nBob, bob@acme.org", "random")
    result = await create_batch(fast_store, parsed, options, actor=ACTOR)
    assert len(result.created) == 2
    added = await add_single_user(
        fast_store, NewUserForm(first_name="Cy", email="cy@acme.org"), actor=ACTOR
    )
    assert isinstance(added, UserAdded)
    for created in result.created:
        user = await get_user(fast_store.engine, created.user_id)
        assert user is not None
        history = await user_history(fast_store.engine, user)
        assert [(e.action, e.actor) for e in history] == [("users_imported", ACTOR)]
        assert history[0].detail_values()["batch_id"] == result.batch_id
    history = await user_history(fast_store.engine, added.user)
    assert [(e.action, e.actor) for e in history] == [("user_added", ACTOR)]


def test_console_actor_falls_back_to_the_os_account() -> None:
    account = pwd.getpwuid(os.geteuid()).pw_name
    assert console_actor({}) == account
    assert console_actor({"SSH_CONNECTION": "10.0.0.7 5123 10.0.0.1 22"}) == (
        f"{account} (ssh 10.0.0.7)"
    )
    assert console_actor({"SUDO_USER": "alice", "USER": "usher"}) == "alice"
    assert console_actor({"LOGNAME": "bob"}) == "bob"
