"""Roles through the console (issue 23): a refused action is a notification naming the role,
never the end of the console, and nothing is written."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Static, TextArea

from console.app import UsherApp
from console.dialogs.admin_form import AdminFormDialog
from console.dialogs.link_form import LinkFormDialog
from console.screens.admins import AdminsScreen
from console.screens.links import LinksScreen
from store import Settings
from store.accounts.acting import Actor, acting_as
from store.accounts.admins import list_admins
from store.database.core import Store
from store.onboarding.links import list_links

from .fixtures_ssh import new_key, public_line
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


async def test_an_owner_adds_changes_and_removes_admins_on_the_admins_screen(
    settings: Settings,
) -> None:
    key = new_key("ann@laptop")
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app._admins()
        await pilot.pause()
        assert isinstance(app.screen, AdminsScreen)
        await pilot.press("n")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, AdminFormDialog)
        dialog.query_one("#name", Input).value = "ann"
        dialog.query_one("#key", TextArea).text = "not a key"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog  # refused next to the fields, nothing lost
        assert "not an OpenSSH public key" in str(dialog.query_one("#error", Static).render())
        dialog.query_one("#key", TextArea).text = public_line(key)
        await pilot.press("ctrl+s")

        async def roles() -> list[str]:
            async with await Store.open(settings, watch=False) as store:
                return [f"{a.name}:{a.role}" for a in await list_admins(store)]

        async def shown(rows: int) -> bool:
            await pilot.pause()
            screen = app.screen
            return isinstance(screen, AdminsScreen) and (
                screen.query_one(DataTable).row_count == rows
            )

        await eventually(lambda: shown(1))
        assert await roles() == ["ann:approver"]
        await pilot.press("e")

        async def cycled() -> bool:
            return await roles() == ["ann:owner"]

        await eventually(cycled)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("y")
        await eventually(lambda: shown(0))
        assert await roles() == []


async def test_the_admins_command_is_offered_to_owners_only(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Admins" in titles
        with acting_as(APPROVER):
            titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Admins" not in titles


async def test_a_console_served_over_ssh_leaves_mail_and_housekeeping_to_its_server(
    settings: Settings,
) -> None:
    """Each SSH session is a console of its own; `usher serve` already runs delivery and
    housekeeping, so a session's console starts none (a local console still does)."""

    def groups(app: UsherApp) -> set[str]:
        return {worker.group for worker in app.workers}

    local = UsherApp(settings, no_server=True)
    async with local.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "background" in groups(local)
    session = UsherApp(settings, no_server=True, background=False)
    async with session.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not {"mail", "background"} & groups(session)
        assert "changes" in groups(session)  # it still follows the database live
