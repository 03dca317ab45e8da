"""The whole of option 2, as an admin and an invitee live it: paste a messy list into the
console, send, one email per valid address arrives at a real SMTP server (aiosmtpd on
loopback), and following its link in a real browser creates the account — which the console's
Invitations screen then shows as accepted.

The emails are sent by the outbox delivery worker, which the console starts with its other
background tasks. Until that worker exists (issue 3), the links are read from the emails' values
in the outbox instead, and the SMTP leg is skipped.
"""

from __future__ import annotations

import email
import email.policy
import importlib.util
import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import msgspec
import pytest
from aiosmtpd.controller import Controller
from playwright.async_api import async_playwright
from rich.text import Text
from textual import events
from textual.widgets import DataTable, TextArea

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from signup_server.runner import bind_socket, bound_port
from store import Settings
from store.emails.message import ascii_domain
from store.invitations import list_invitations

from .fixtures_invitations import CHROMIUM, CHROMIUM_ARGS, GOOD_PASSWORD, accept_link
from .helpers import eventually, free_port

pytestmark = pytest.mark.browser

DELIVERY = importlib.util.find_spec("store.delivery") is not None
"""Whether the outbox delivery worker (issue 3) is here to send the emails over SMTP."""

MESSY = """First name\tLast name\tEmail
Ann\tLee\tann@example.org
Bob\tStone\tbob@@example.org
Cy\tYoung\tCY@example.org
\t\t
Di\tAmbrose\tann@example.org
Zoë\tÅngström\tzoe@bücher.de
"""
VALID = {"ann@example.org", "CY@example.org", "zoe@bücher.de"}


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.extend(envelope.rcpt_tos)
        return "250 Message accepted"

    def link_for(self, address: str) -> str:
        for message in self.messages:
            if str(message["To"]).endswith(f"<{address}>") or str(message["To"]) == address:
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                match = re.search(r"https?://\S+/invite/\S+", body.get_content())
                assert match, "no invitation link in the email"
                return match.group(0)
        raise AssertionError(f"no email to {address}")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_paste_send_receive_follow_the_link_create_the_account(
    settings: Settings, smtp: tuple[Inbox, int]
) -> None:
    inbox, smtp_port = smtp
    sock = bind_socket("127.0.0.1", 0)
    smtp_url = f"smtp://127.0.0.1:{smtp_port}" if DELIVERY else ""
    configured = msgspec.structs.replace(settings, port=bound_port(sock), smtp_url=smtp_url)
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
            return "Will invite 3" in str(app.screen.query_one("#summary").render())

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
            return len(await list_invitations(store)) == 3

        await eventually(invited)
        assert {i.email for i in await list_invitations(store)} == VALID

        # one email per valid address reaches the SMTP server
        if DELIVERY:

            async def delivered() -> bool:
                await pilot.pause()
                return len(inbox.messages) >= 3

            await eventually(delivered, timeout=20)
            # IDN domains travel in their ASCII (punycode) form on the wire.
            assert sorted(inbox.recipients) == sorted(ascii_domain(a) for a in VALID)
            assert len(inbox.messages) == 3
            link = inbox.link_for("ann@example.org")
        else:
            link = await accept_link(store, "ann@example.org")
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
                await page.fill("#password_confirm", GOOD_PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_url("**/invitation/accepted")
                assert await page.locator("h1").inner_text() == "Your account is ready"
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
            if table.row_count != 3:
                return False
            cell = table.get_cell(str(ann.id), "status")
            return isinstance(cell, Text) and cell.plain == "accepted"

        await eventually(shown_accepted)
