"""Signing up through an invite link in a real browser (Debian's chromium via Playwright), with
axe-core checking every page against WCAG 2.1 A/AA and a screenshot of each saved under
test-artifacts/signup/.

The first test is the issue's "done when": a link created in the console opens in a browser,
the person signs up, confirms their address by the link in the email a real SMTP server
(aiosmtpd) received from the console's delivery worker, and the console shows them."""

from __future__ import annotations

import socket

import msgspec
import pytest
from playwright.async_api import Browser, Page, expect
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input

from console.app import UsherApp
from console.dialogs.copied import CopiedDialog
from console.dialogs.link_details import LinkDetailsScreen
from console.dialogs.link_form import LinkFormDialog
from console.screens.links import LinksScreen
from signup_server.runner import bind_socket, bound_port
from store import Settings, Store
from store.onboarding.links import revoke_link

from .browsers import PageChecker
from .fixtures_smtp import Inbox
from .helpers import GOOD_PASSWORD, eventually, live_server, make_link, outbox_rows

pytestmark = pytest.mark.browser


async def fill_signup(page: Page, email: str, password: str = GOOD_PASSWORD) -> None:
    await page.fill("#email", email)
    await page.fill("#first_name", "Bea")
    await page.fill("#last_name", "Smith")
    await page.fill("#password", password)


async def test_console_link_to_confirmed_account(
    settings: Settings, browser: Browser, smtp: tuple[Inbox, int]
) -> None:
    inbox, smtp_port = smtp
    sock = bind_socket("127.0.0.1", 0)
    configured = msgspec.structs.replace(
        settings.with_port(bound_port(sock)), smtp_url=f"smtp://127.0.0.1:{smtp_port}"
    )
    app = UsherApp(configured, sock=sock)
    checker = PageChecker("auto-accept-with-confirmation")
    async with app.run_test(size=(100, 30)) as pilot:

        async def server_up() -> bool:
            await pilot.pause()
            return app.server_state.state == "up"

        await eventually(server_up)
        url = await create_link_in_console(app, pilot)
        assert app.store is not None
        store = app.store

        page = await browser.new_page()
        await page.goto(url)
        await expect(page.get_by_role("heading", level=1)).to_have_text("Join Usher")
        await expect(page.get_by_text("You'll join Usher as a member.")).to_be_visible()
        await checker.check(page, "join")

        await fill_signup(page, "bea@example.org", password="password")
        await page.get_by_role("button", name="Create my account").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await expect(page.locator("#email")).to_have_value("bea@example.org")
        await expect(page.locator("#password")).to_have_value("")
        await checker.check(page, "join-refused")

        await page.fill("#password", GOOD_PASSWORD)
        await page.get_by_role("button", name="Create my account").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
        await checker.check(page, "check-email")

        # The console's table counts the use at once (the account exists, unconfirmed).
        async def used(text: str) -> bool:
            await pilot.pause()
            table = app.screen.query_one("#links", DataTable)
            return str(table.get_row_at(0)[4]) == text

        await eventually(lambda: used("1"))

        # The console's delivery worker hands the email to the real SMTP server.
        async def arrived() -> bool:
            await pilot.pause()
            return inbox.find("bea@example.org", "Confirm your email") is not None

        await eventually(arrived, timeout=15)
        message = inbox.find("bea@example.org", "Confirm your email")
        assert message is not None
        assert "You asked to join Usher as a member" in str(
            message.get_body(preferencelist=("plain",))
        )
        confirm_url = inbox.link_in(message, "confirm")
        assert confirm_url.startswith(app.settings.base_url + "/confirm/")
        await page.goto(confirm_url)
        # Opening the link only shows a button (mail scanners open links too).
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Confirm your email address"
        )
        await checker.check(page, "confirm")
        await page.get_by_role("button", name="Confirm my address").click()
        # The browser that signed up keeps its password: sign in, the address filled in.
        await expect(page.get_by_text("Your email address is confirmed")).to_be_visible()
        await expect(page.locator("#email")).to_have_value("bea@example.org")
        await page.fill("#password", GOOD_PASSWORD)
        await checker.check(page, "login")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
        await expect(page.get_by_text("You are signed in to Usher as Bea Smith")).to_be_visible()
        await checker.check(page, "account")

        await page.get_by_role("link", name="Change your password").click()
        await checker.check(page, "change-password")
        await page.close()

        # The console shows the person: the dashboard counts them, the link lists them.
        async def counted() -> bool:
            await pilot.pause()
            return app.counts is not None and app.counts.active == 1

        await eventually(counted)
        await pilot.press("enter")

        async def details() -> bool:
            await pilot.pause()
            return isinstance(app.screen, LinkDetailsScreen)

        await eventually(details)
        member = app.screen.query_one("#members", DataTable).get_row_at(0)
        assert [str(cell) for cell in member][1:] == ["bea@example.org", "just now", "active"]
        assert [m["kind"] for m in await outbox_rows(store)] == ["confirm_email", "welcome"]

        async def welcomed() -> bool:
            await pilot.pause()
            return inbox.find("bea@example.org", "Welcome") is not None

        await eventually(welcomed, timeout=15)
        assert all(m["status"] == "sent" for m in await outbox_rows(store))


async def create_link_in_console(app: UsherApp, pilot: Pilot[int]) -> str:
    """F3, n, fill the dialog, create; returns the URL the `c` key copied."""
    await pilot.press("f3")
    await pilot.pause()
    assert isinstance(app.screen, LinksScreen)
    await pilot.press("n")
    await pilot.pause()
    dialog = app.screen
    assert isinstance(dialog, LinkFormDialog)
    assert dialog.query_one("#confirm", Checkbox).value is True  # SMTP is configured
    dialog.query_one("#label", Input).value = "Spring cohort"
    await pilot.click("#submit")

    async def listed() -> bool:
        await pilot.pause()
        return isinstance(app.screen, LinksScreen) and app.screen.links != {}

    await eventually(listed)
    await pilot.press("c")

    async def offered() -> bool:  # the first copy shows the link to select by hand
        return isinstance(app.screen, CopiedDialog)

    await eventually(offered)
    await pilot.press("escape")
    return app.clipboard


async def test_approval_link_with_password_and_domains(
    fast_store: Store, listening: tuple[socket.socket, Settings], browser: Browser
) -> None:
    sock, bound = listening
    fast_store.settings = bound
    link = await make_link(
        fast_store,
        label="Partners",
        level="viewer",
        auto_accept=False,
        confirm_email=False,
        password="opensesame",
        domains=("acme.org", "*.acme.org"),
        allow_unconfirmed_domains=True,  # the admin's consent: nothing proves the address
    )
    checker = PageChecker("approval")
    async with live_server(fast_store, sock):
        context = await browser.new_context(color_scheme="dark")
        page = await context.new_page()
        await page.goto(link.url(bound))
        await expect(page.get_by_text("You'll join Usher as a viewer.")).to_be_visible()
        await expect(page.get_by_text("An administrator approves each new account")).to_be_visible()
        await expect(page.get_by_text("any address ending .acme.org")).to_be_visible()
        await checker.check(page, "join")

        await fill_signup(page, "bea@elsewhere.example")
        await page.fill("#link_password", "guess")
        await page.get_by_role("button", name="Create my account").click()
        summary = page.locator(".error-summary")
        await expect(summary).to_contain_text("Use an email address at acme.org")
        await expect(summary).to_contain_text("The link's password is not right")
        await expect(page.locator("#first_name")).to_have_value("Bea")
        await expect(page.locator("#link_password")).to_have_value("")
        await checker.check(page, "join-refused")
        await summary.get_by_role("link", name="The link's password is not right").click()
        await expect(page.locator("#link_password")).to_be_focused()

        await page.fill("#email", "bea@eu.acme.org")
        await page.fill("#password", GOOD_PASSWORD)
        await page.fill("#link_password", "opensesame")
        await page.get_by_role("button", name="Create my account").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Your account is waiting for approval"
        )
        await checker.check(page, "pending")
        assert (await fast_store.counts()).pending == 1
        assert [m["kind"] for m in await outbox_rows(fast_store)] == ["pending_approval"]

        await page.goto(bound.base_url + "/login")
        await page.fill("#email", "bea@eu.acme.org")
        await page.fill("#password", GOOD_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator(".notice")).to_contain_text("waiting for approval")
        await checker.check(page, "account-pending")

        await page.goto(bound.base_url + "/password/forgot")
        await checker.check(page, "forgot")
        await page.fill("#email", "nobody@example.org")
        await page.get_by_role("button", name="Send me a link").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
        await checker.check(page, "forgot-sent")

        await revoke_link(fast_store, link.id, actor="test")
        response = await page.goto(link.url(bound))
        assert response is not None and response.status == 410
        await expect(page.get_by_role("heading", level=1)).to_have_text("This link doesn't work")
        await checker.check(page, "link-gone")
        await context.close()
