"""The shared `/` filter line (Approvals, Outbox, Audit): hidden until opened, and closing it
empties it, hides it and says whether it had been open."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from console.widgets.filter_box import FilterBox


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield FilterBox("Filter")
        yield DataTable()


async def test_open_type_close() -> None:
    app = Host()
    async with app.run_test() as pilot:
        box = app.query_one(FilterBox)
        assert box.id == "filter" and not box.display
        box.open()
        await pilot.pause()
        assert box.display and box.has_focus
        await pilot.press("a", "b")
        assert box.value == "ab"
        assert box.close() is True
        await pilot.pause()
        assert box.value == "" and not box.display
        assert box.close() is False
