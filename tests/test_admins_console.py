"""Roles through the console (issue 23): a refused action is a notification naming the role,
never the end of the console, and nothing is written."""

from __future__ import annotations

from textual.widgets import Input

from console.app import UsherApp
from console.dialogs.link_form import LinkFormDialog
from console.screens.links import LinksScreen
from store import Settings
from store.acting import Actor, acting_as
from store.core import Store
from store.links import list_links

from .helpers import eventually

APPROVER = Actor(name="apu", role="approver", fingerprint="SHA256:x", peer="10.0.0.7")


async def test_an_approver_cannot_create_a_link_from_the_console(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    notes: list[str] = []
    with acting_as(APPROVER):
        async with app.run_test(size=(80, 24)) as pilot:
            original = app.notify

            def record(message: str, **options: object) -> None:
                notes.append(message)
                original(message, **options)  # type: ignore[arg-type]

            app.notify = record  # type: ignore[method-assign]
            await pilot.pause()
            await pilot.press("f3")
            await pilot.pause()
            assert isinstance(app.screen, LinksScreen)
            await pilot.press("n")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, LinkFormDialog)
            dialog.query_one("#label", Input).value = "Not mine to make"
            await pilot.click("#submit")

            async def refused() -> bool:
                await pilot.pause()
                return any("needs the manager role" in note for note in notes)

            await eventually(refused)
            assert app.is_running
    async with await Store.open(settings, watch=False) as store:
        assert await list_links(store) == []
