"""The Links screen (F3) driven with Pilot: create, copy, QR code, details, edit, regenerate,
revoke, and a table that follows the database by itself."""

from __future__ import annotations

import sqlite3

import msgspec
from rich.text import Text
from textual.widgets import Checkbox, DataTable, Input, Static

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from console.dialogs.copied import CopiedDialog
from console.dialogs.link_details import LinkDetailsScreen
from console.dialogs.link_form import NO_CONFIRM_NOTE, NO_SMTP_NOTE, LinkFormDialog
from console.dialogs.qr import QrScreen
from console.screens.links import LinksScreen
from console.widgets.qr import qr_lines
from store import Settings
from store.domain.clock import db_now
from store.onboarding.links import list_links
from store.onboarding.signup import sign_up_by_link

from .helpers import eventually, form


async def _is(app: UsherApp, kind: type) -> bool:
    return isinstance(app.screen, kind)


def plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def rows(app: UsherApp) -> list[list[str]]:
    table = app.screen.query_one("#links", DataTable)
    return [[plain(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def open_links(app: UsherApp, pilot: object) -> LinksScreen:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await pilot.pause()
    await pilot.press("f3")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, LinksScreen)
    return screen


async def test_create_copy_regenerate_and_revoke(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_links(app, pilot)
        assert app.screen.query_one("#empty").display
        await pilot.press("n")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, LinkFormDialog)
        dialog.query_one("#label", Input).value = "Spring cohort"
        dialog.query_one("#max-uses", Input).value = "50"
        dialog.query_one("#domains", Input).value = "acme.org, *.acme.org"
        await pilot.click("#submit")

        async def warned() -> bool:
            await pilot.pause()
            return "proves nothing" in str(dialog.query_one("#error", Static).render())

        # Domains without confirmation prove nothing: the form warns once, saving again creates.
        await eventually(warned)
        await pilot.press("ctrl+s")  # the warning moved the button: save by key, not by place

        async def listed(n: int) -> bool:
            await pilot.pause()
            return isinstance(app.screen, LinksScreen) and len(rows(app)) == n

        await eventually(lambda: listed(1))
        assert rows(app)[0] == [
            "Spring cohort",
            "member",
            "—",
            "auto",
            "0 of 50",
            "in 30 days",
            "active",
        ]
        assert app.store is not None
        [link] = await list_links(app.store)
        assert link.domains == ("acme.org", "*.acme.org")
        assert link.confirm_email is False  # no SMTP configured: unticked by default
        url = link.url(app.settings)

        await pilot.press("c")
        assert app.clipboard == url
        await eventually(lambda: _is(app, CopiedDialog))  # the first copy explains itself
        await pilot.press("escape")
        await eventually(lambda: _is(app, LinksScreen))

        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, AskDialog)
        await pilot.press("y")

        async def regenerated() -> bool:
            await pilot.pause()
            assert app.store is not None
            [current] = await list_links(app.store)
            return current.token != link.token

        await eventually(regenerated)
        await pilot.press("c")
        assert app.clipboard != url
        assert app.clipboard.startswith(f"{app.settings.base_url}/join/")

        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, AskDialog)
        await pilot.press("n")  # cancel: nothing happens
        await pilot.pause()
        assert rows(app)[0][-1] == "active"
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("y")

        async def revoked() -> bool:
            await pilot.pause()
            return rows(app)[0][-1] == "revoked"

        await eventually(revoked)
        assert rows(app)[0][5] == "—"
        actions = [e.action for e in await app.store.audit_entries()]
        assert actions[:3] == ["link_revoked", "link_regenerated", "link_created"]


async def test_dialog_defaults_follow_smtp_and_explain(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_links(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, LinkFormDialog)
        assert dialog.query_one("#auto-accept", Checkbox).value is True
        assert dialog.query_one("#confirm", Checkbox).value is False
        note = plain(dialog.query_one("#confirm-note", Static).render())
        assert NO_SMTP_NOTE in note and NO_CONFIRM_NOTE in note
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LinksScreen)

    with_smtp = msgspec.structs.replace(settings, smtp_url="smtp://127.0.0.1:1")
    app = UsherApp(with_smtp, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_links(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        assert app.screen.query_one("#confirm", Checkbox).value is True


async def test_dialog_refuses_bad_input_next_to_the_field(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_links(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, LinkFormDialog)
        dialog.query_one("#domains", Input).value = "acme"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog
        assert "Only emails at" in plain(dialog.query_one("#error", Static).render())
        assert app.focused is dialog.query_one("#domains", Input)
        dialog.query_one("#domains", Input).value = ""
        dialog.query_one("#use-password", Checkbox).value = True
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Link password" in plain(dialog.query_one("#error", Static).render())
        dialog.query_one("#password", Input).value = "opensesame"
        dialog.query_one("#max-uses", Input).value = "zero"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Max uses" in plain(dialog.query_one("#error", Static).render())
        dialog.query_one("#max-uses", Input).value = ""
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, LinksScreen)
        assert app.store is not None

        async def made() -> bool:
            await pilot.pause()
            assert app.store is not None
            return len(await list_links(app.store)) == 1

        await eventually(made)
        [link] = await list_links(app.store)
        assert link.has_password and link.join_mode == "auto · password"


async def test_qr_details_and_edit(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_links(app, pilot)
        assert app.store is not None
        from .helpers import make_link

        link = await make_link(app.store, label="[bold red]Wiki[/]", confirm_email=False)
        await sign_up_by_link(app.store, link.token, form("bea@example.org"), actor="web")

        async def shown() -> bool:
            await pilot.pause()
            return rows(app) != [] and rows(app)[0][4] == "1"

        await eventually(shown)
        assert rows(app)[0][0] == "[bold red]Wiki[/]"  # user text shown literally

        await pilot.press("q")
        await pilot.pause()
        qr = app.screen
        assert isinstance(qr, QrScreen)
        assert qr.url == link.url(app.settings)
        code = plain(qr.query_one("#code", Static).render())
        assert code.splitlines() == qr_lines(qr.url)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("enter")

        async def details() -> bool:
            await pilot.pause()
            return isinstance(app.screen, LinkDetailsScreen)

        await eventually(details)
        members = app.screen.query_one("#members", DataTable)
        assert [plain(c) for c in members.get_row_at(0)][:2] == ["Ann Lee", "bea@example.org"]
        assert link.token in plain(app.screen.query_one("#url", Static).render())
        await pilot.press("c")
        assert app.clipboard == link.url(app.settings)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("e")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, LinkFormDialog)
        assert dialog.query_one("#label", Input).value == "[bold red]Wiki[/]"
        dialog.query_one("#label", Input).value = "Wiki"
        dialog.query_one("#auto-accept", Checkbox).value = False
        await pilot.press("ctrl+s")

        async def edited() -> bool:
            await pilot.pause()
            return rows(app)[0][:4] == ["Wiki", "member", "—", "approval"]

        await eventually(edited)
        assert app.store is not None
        [current] = await list_links(app.store)
        assert current.token == link.token and current.expires_at == link.expires_at


def test_qr_lines_encode_the_module_matrix() -> None:
    import segno

    url = "http://127.0.0.1:8000/join/" + "A" * 43
    lines = qr_lines(url)
    matrix = [list(map(bool, row)) for row in segno.make(url, error="m").matrix_iter(border=2)]
    tops = {"█": True, "▀": True, "▄": False, " ": False}
    bottoms = {"█": True, "▀": False, "▄": True, " ": False}
    for index, line in enumerate(lines):
        assert [tops[ch] for ch in line] == matrix[2 * index]
        if 2 * index + 1 < len(matrix):
            assert [bottoms[ch] for ch in line] == matrix[2 * index + 1]
    assert len(lines) <= 21 and len(lines[0]) <= 41  # fits an 80x24 terminal


async def test_table_follows_other_processes(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_links(app, pilot)
        with sqlite3.connect(settings.db) as conn:
            conn.execute(
                "INSERT INTO invite_links (token, label, level, created_at) "
                "VALUES ('tok-from-elsewhere', 'Elsewhere', 'viewer', ?)",
                (db_now(),),
            )

        async def appeared() -> bool:
            await pilot.pause()
            return len(rows(app)) == 1 and rows(app)[0][0] == "Elsewhere"

        await eventually(appeared, timeout=5)
        table = app.screen.query_one("#links", DataTable)
        with sqlite3.connect(settings.db) as conn:
            conn.execute("UPDATE invite_links SET uses = 3, max_uses = 3")

        async def used_up() -> bool:
            await pilot.pause()
            return rows(app)[0][4] == "3 of 3" and rows(app)[0][6] == "used up"

        await eventually(used_up, timeout=5)
        assert table.row_count == 1
        with sqlite3.connect(settings.db) as conn:
            conn.execute("DELETE FROM invite_links")

        async def gone() -> bool:
            await pilot.pause()
            return rows(app) == []

        await eventually(gone, timeout=5)
        assert app.screen.query_one("#empty").display
