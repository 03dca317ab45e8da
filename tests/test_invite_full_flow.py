"""The whole of option 2, as an admin and an invitee live it: paste a messy list into the
console, send, one email per valid address arrives at a real SMTP server (aiosmtpd on
loopback, through the console's delivery worker), and following its link in a real browser
creates the account — which the console's Invitations screen then shows as accepted. An
address the server refuses for good shows as bounced.
"""

from __future__ import annotations

import re

import msgspec
import pytest
from playwright.async_api import async_playwright
from rich.text import Text
from textual import events
from textual.widgets import DataTable, TextArea

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from signup_server.runner import bind_socket, bound_port
from store import Settings
from store.onboarding.invitations import list_invitations

from .browsers import CHROMIUM, CHROMIUM_ARGS
from .fixtures_smtp import SmtpServer, smtp_server
from .helpers import GOOD_PASSWORD, eventually

__all__ = ["smtp_server"]

pytestmark = pytest.mark.browser

MESSY = """First name\tLast name\tEmail
Ann\tLee\tann@example.org
Bob\tStone\tbob@@example.org
Cy\tYoung\tCY@example.org
\t\t
Di\tAmbrose\tann@example.org
Zoë\tÅngström\tzoe@bücher.de
Gone\tAway\tgone@example.org
"""
VALID = {"ann@example.org", "CY@example.org", "zoe@bücher.de", "gone@example.org"}
DELIVERED = {"ann@example.org", "CY@example.org", "zoe@xn--bcher-kva.de"}


def link_in(server: SmtpServer, address: str) -> str:
    [received] = server.received_by(address)
    body = received.message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"https?://\S+/invite/\S+", body.get_content())
    assert match, "no invitation link in the email"
    return match.group(0)


async def test_paste_send_receive_follow_the_link_create_the_account(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.reject = {"gone@example.org"}
    sock = bind_socket("127.0.0.1", 0)
    configured = msgspec.structs.replace(settings, port=bound_port(sock), smtp_url=smtp_server.url)
    app = UsherApp(configured, sock=sock)
    async with app.run_test(size=(100, 30)) as pilot:

        async def server_up() -> bool:
            await pilot.pause()
            return app.server_state.state == "up"

        await eventually(server_up)

        # the admin pastes and sends
        await pilot.press("f4")
        app.screen.query_one("#paste", TextArea).focus()
        await pilot.pause()
        app.post_message(events.Paste(MESSY))

        async def previewed() -> bool:
            await pilot.pause()
            return "Will invite 4" in str(app.screen.query_one("#summary").render())

        await eventually(previewed, timeout=15)
        await pilot.press("ctrl+s")

        async def asked() -> bool:
            await pilot.pause()
            return isinstance(app.screen, AskDialog)

        await eventually(asked)
        await pilot.press("enter")
        assert app.store is not None
        store = app.store

        async def invited() -> bool:
            await pilot.pause()
            return len(await list_invitations(store)) == 4

        await eventually(invited)
        assert {i.email for i in await list_invitations(store)} == VALID

        # one email per valid address reaches the SMTP server; the refused one bounces
        async def delivered() -> bool:
            await pilot.pause()
            if len(smtp_server.received) < 3:
                return False
            statuses = {i.email: i.status for i in await list_invitations(store)}
            return statuses["gone@example.org"] == "bounced"

        await eventually(delivered, timeout=20)
        recipients = [r for message in smtp_server.received for r in message.rcpt_tos]
        assert sorted(recipients) == sorted(DELIVERED)
        link = link_in(smtp_server, "ann@example.org")
        assert link.startswith(f"{configured.base_url}/invite/")

        # the invitee follows the link in a real browser and creates the account
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                page = await browser.new_page()
                await page.goto(link)
                assert await page.locator("#email").input_value() == "ann@example.org"
                assert await page.locator("#first_name").input_value() == "Ann"
                await page.fill("#password", GOOD_PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_url("**/invitation/accepted")
                assert await page.locator("h1").inner_text() == "Your account is ready"
                await page.click("a[href='/login']")
                await page.fill("#email", "ann@example.org")
                await page.fill("#password", GOOD_PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_url("**/account")
                assert "You are signed in" in await page.locator("main").inner_text()
            finally:
                await browser.close()

        row = await store.engine.fetchone(
            "SELECT status, level, source FROM users WHERE email = 'ann@example.org'"
        )
        assert row is not None and tuple(row) == ("active", "member", "invitation")

        # the admin sees it in the console
        await pilot.press("f5")
        table = app.screen.query_one("#invitations", DataTable)
        ann = next(i for i in await list_invitations(store) if i.email == "ann@example.org")

        async def shown_accepted() -> bool:
            await pilot.pause()
            if table.row_count != 4:
                return False
            cell = table.get_cell(str(ann.id), "status")
            return isinstance(cell, Text) and cell.plain == "accepted"

        await eventually(shown_accepted)
        gone = next(i for i in await list_invitations(store) if i.email == "gone@example.org")
        cell = table.get_cell(str(gone.id), "status")
        assert isinstance(cell, Text) and cell.plain == "bounced"
