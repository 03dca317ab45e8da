"""Fixes from the console UX review of the dialogs (and the store behind them): level order and
colour-free toggles in the link form, plurals, naming who was erased, clipped link-details cells,
a bulk-imported user's history, and the console actor without $USER."""

from __future__ import annotations

from typing import Any

from textual.widgets import Checkbox, RadioSet

from console.app import UsherApp
from console.dialogs.link_form import LinkFormDialog
from store import Settings
from store.links import LinkDraft
from store.migrations import LEVELS

SIZE = (80, 24)


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
