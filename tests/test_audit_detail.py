"""Issue 16: the Audit screen (F10) opens an entry in full — a rejection's reason, a level
from → to — with enter, and escape closes it."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from console.app import UsherApp
from console.dialogs.audit_entry import AuditEntryDialog
from console.screens.audit import AuditScreen
from store import Settings
from store.accounts.users import set_level
from store.onboarding.approvals import reject

from .fixtures_users import add_user
from .helpers import eventually

REASON = "Not on the 2026 course list — ask Dr. O'Hara <[b]registrar[/b]>"


async def test_enter_opens_an_entry_with_its_reason_and_levels(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        store = app.store
        assert store is not None
        bea = await add_user(store, "bea.longname-of-the-valley@example.org", first="Bea")
        cy = await add_user(store, "cy@example.org", first="Cy", status="active")
        await set_level(store, [cy], "admin", actor="tester")
        await reject(store, [bea], actor="tester", reason=REASON)
        await pilot.press("f10")

        async def listed() -> bool:
            screen = app.screen
            return isinstance(screen, AuditScreen) and screen.query_one(DataTable).row_count == 2

        await eventually(listed)
        await pilot.press("enter")  # the newest first: the rejection

        async def opened() -> bool:
            return isinstance(app.screen, AuditEntryDialog)

        await eventually(opened)
        text = str(app.screen.query_one("#entry", Static).render())
        assert REASON in text  # in full, as text (the brackets are not markup)
        assert "bea.longname-of-the-valley@example.org" in text
        await pilot.press("escape")

        async def closed() -> bool:
            return isinstance(app.screen, AuditScreen)

        await eventually(closed)
        await pilot.press("down", "enter")
        await eventually(opened)
        text = str(app.screen.query_one("#entry", Static).render())
        assert "member → admin" in text
        await pilot.press("escape")
        await eventually(closed)
