"""The Invite (F4) and Invitations (F5) screens under `App.run_test()` on a real database:
paste, live preview, send; resend, revoke, copy a fresh link, and live status changes."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, DataTable, Input, Static, TextArea

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from console.dialogs.copied import CopiedDialog
from console.screens.invitations import InvitationsScreen
from console.screens.invite import MAX_PROBLEM_ROWS, InviteScreen
from store import Settings, Store
from store.onboarding.invitations import (
    AcceptForm,
    accept_invitation,
    invitation_for_token,
    list_invitations,
)

from .fixtures_invitations import accept_link, invite, token_of
from .helpers import GOOD_PASSWORD, cheap_hasher, eventually

MESSY = """Name,Email
"Lee, Ann",ann@x.org
Bob Stone,bob@@y.org
Cy,cy@z.org
Dup,ANN@x.org
Di,di@x.org
"""


def plain(widget: Static) -> str:
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


async def paste(pilot: Pilot[int], text: str) -> None:
    """As a terminal's bracketed paste arrives: to the app, which hands it to the focused widget."""
    pilot.app.screen.query_one("#paste", TextArea).focus()
    await pilot.pause()
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()


async def wait_for_summary(pilot: Pilot[int], expected: str) -> str:
    summary = pilot.app.screen.query_one("#summary", Static)

    async def shown() -> bool:
        await pilot.pause()
        return expected in plain(summary)

    await eventually(shown, timeout=15)
    return plain(summary)


async def store_of(app: UsherApp) -> Store:
    assert app.store is not None
    return app.store


async def test_paste_preview_and_send(settings: Settings) -> None:
    async with await Store.open(settings, hasher=cheap_hasher()) as other:
        await invite(other, "di@x.org")  # pending already
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("f4")
        assert isinstance(app.screen, InviteScreen)
        await paste(pilot, MESSY)
        summary = await wait_for_summary(pilot, "Will invite 2")
        assert "1 not an address" in summary
        assert "1 duplicate" in summary
        assert "1 pending (skip)" in summary
        assert "header on line 1 skipped" in summary
        table = app.screen.query_one("#problems", DataTable)
        assert table.row_count == 3
        assert [table.get_row_at(i)[1] for i in range(3)] == [3, 5, 6]
        button = app.screen.query_one("#send", Button)
        assert str(button.label) == "Send 2" and not button.disabled

        app.screen.query_one("#reinvite", Checkbox).value = True
        await wait_for_summary(pilot, "Will invite 3")
        assert str(button.label) == "Send 3"

        app.screen.query_one("#message", Input).value = "See you Monday"
        app.screen.query_one("#level-viewer").value = True  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")

        async def asked() -> bool:
            await pilot.pause()
            return isinstance(app.screen, AskDialog)

        await eventually(asked)
        await pilot.press("enter")
        store = await store_of(app)

        async def sent() -> bool:
            await pilot.pause()
            return len(await list_invitations(store)) == 3

        await eventually(sent)
        invitations = {i.email: i for i in await list_invitations(store)}
        assert {i.level for i in invitations.values()} == {"viewer"}
        assert invitations["ann@x.org"].name == "Lee, Ann"
        assert invitations["ann@x.org"].message == "See you Monday"
        emails = await store.engine.scalar("SELECT count(*) FROM outbox WHERE kind = 'invitation'")
        assert emails == 3  # di's first email was superseded by the re-invite
        # What was not an address stays (with the header) to be corrected and sent.
        assert app.screen.query_one("#paste", TextArea).text == "Name,Email\nBob Stone,bob@@y.org"
        assert "1 not an address" in await wait_for_summary(pilot, "1 not an address")


async def test_cancel_sends_nothing_and_empty_paste_says_so(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await pilot.press("ctrl+s")

        async def warned() -> bool:
            await pilot.pause()
            return any("Nothing to send" in n.message for n in app._notifications)

        await eventually(warned)
        await paste(pilot, "ann@x.org")
        await wait_for_summary(pilot, "Will invite 1")
        await pilot.press("ctrl+s")

        async def asked() -> bool:
            await pilot.pause()
            return isinstance(app.screen, AskDialog)

        await eventually(asked)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, InviteScreen)
        assert await list_invitations(await store_of(app)) == []
        assert app.screen.query_one("#paste", TextArea).text == "ann@x.org"


async def test_a_ten_thousand_line_paste_shows_counts_not_rows(settings: Settings) -> None:
    lines = [f"p{i}@example.org" if i % 10 else f"broken{i}@" for i in range(10_000)]
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4")
        await paste(pilot, "\n".join(lines))
        summary = await wait_for_summary(pilot, "Will invite 9,000")
        assert "1,000 not an address" in summary
        assert f"showing the first {MAX_PROBLEM_ROWS}" in summary
        assert app.screen.query_one("#problems", DataTable).row_count == MAX_PROBLEM_ROWS


async def test_invitations_screen_resend_revoke_copy_and_live_status(settings: Settings) -> None:
    async with await Store.open(settings, hasher=cheap_hasher()) as other:
        await invite(other, "Ann Lee <ann@x.org>, bob@y.org, cy@z.org")
        cy_link = await accept_link(other, "cy@z.org")
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        screen = app.screen
        assert isinstance(screen, InvitationsScreen)
        table = screen.query_one("#invitations", DataTable)

        async def rows(n: int) -> bool:
            await pilot.pause()
            return table.row_count == n

        await eventually(lambda: rows(3))
        store = await store_of(app)
        ids = {i.email: i.id for i in await list_invitations(store)}

        async def select(email: str) -> None:
            table.move_cursor(row=table.get_row_index(str(ids[email])))
            await pilot.pause()
            assert screen.selected() is not None and screen.selected().email == email  # type: ignore[union-attr]

        def status_of(email: str) -> str:
            cell = table.get_cell(str(ids[email]), "status")
            return cell.plain if isinstance(cell, Text) else str(cell)

        # s resends: a new email, no question asked
        await select("bob@y.org")
        before = await accept_link(store, "bob@y.org")
        await pilot.press("s")

        async def resent() -> bool:
            await pilot.pause()
            return await accept_link(store, "bob@y.org") != before

        await eventually(resent)

        # r revokes after asking once
        await select("ann@x.org")
        await pilot.press("r")

        async def asked() -> bool:
            await pilot.pause()
            return isinstance(app.screen, AskDialog)

        await eventually(asked)
        await pilot.press("enter")

        async def revoked() -> bool:
            await pilot.pause()
            return status_of("ann@x.org") == "revoked"

        await eventually(revoked)

        # c copies a fresh link after asking; the emailed one stops working
        await select("bob@y.org")
        await pilot.press("c")
        await eventually(asked)
        await pilot.press("enter")

        async def copied() -> bool:
            await pilot.pause()
            return app.clipboard.startswith(f"{settings.base_url}/invite/")

        await eventually(copied)

        async def offered() -> bool:  # the first copy offers the link to select by hand
            return isinstance(app.screen, CopiedDialog) and app.clipboard in plain(
                app.screen.query_one("#text", Static)
            )

        await eventually(offered)
        await pilot.press("escape")
        fresh = await invitation_for_token(store, token_of(app.clipboard))
        assert fresh.email == "bob@y.org"
        assert not await store.engine.scalar(
            "SELECT count(*) FROM outbox WHERE recipient = 'bob@y.org'"
        )  # the kept email with the dead link was withdrawn

        # an acceptance elsewhere (another process) shows up by itself
        async with await Store.open(settings, hasher=cheap_hasher()) as web:
            form = AcceptForm(
                first_name="Cy",
                last_name="Young",
                password=GOOD_PASSWORD,
                password_confirm=GOOD_PASSWORD,
            )
            await accept_invitation(web, token_of(cy_link), form, actor="web 127.0.0.1")

        async def accepted() -> bool:
            await pilot.pause()
            return status_of("cy@z.org") == "accepted"

        await eventually(accepted, timeout=5)

        # f cycles the status filter: pending only
        await pilot.press("f")
        await eventually(lambda: rows(1))
        assert screen.status_filter == "pending"
        label = screen.query_one("#filter-accepted")
        assert "Accepted 1" in str(label.label)  # type: ignore[attr-defined]


async def test_invitations_search_and_refusals(settings: Settings) -> None:
    async with await Store.open(settings, hasher=cheap_hasher()) as other:
        await invite(other, "ann@x.org, bob@y.org")
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        table = app.screen.query_one("#invitations", DataTable)

        async def rows(n: int) -> bool:
            await pilot.pause()
            return table.row_count == n

        await eventually(lambda: rows(2))
        await pilot.press("slash")
        await pilot.press(*"bob")
        await eventually(lambda: rows(1))
        await pilot.press("escape")
        await eventually(lambda: rows(2))
        # revoke twice: the second time there is nothing to revoke, and no question
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("enter")

        async def one_revoked() -> bool:
            await pilot.pause()
            store = await store_of(app)
            return any(i.status == "revoked" for i in await list_invitations(store))

        await eventually(one_revoked)
        await pilot.press("r")

        async def refused() -> bool:
            await pilot.pause()
            return any("nothing to revoke" in n.message for n in app._notifications)

        await eventually(refused)
        assert not isinstance(app.screen, AskDialog)
