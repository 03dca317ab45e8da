"""The issue's "done when": an admin adds a person in the console, the email reaches a real SMTP
server (aiosmtpd, through the console's delivery worker), its set-password link works in a real
browser (Debian's chromium) and the person then signs in at /login. And a generated one-time
password signs in once, in the browser, and must be replaced before anything else."""

from __future__ import annotations

import re
import socket

import msgspec
import pytest
from playwright.async_api import Browser, expect

from console.app import UsherApp
from console.screens.add_user import AddUserScreen
from signup_server.runner import bind_socket, bound_port
from store import Settings, Store
from store.onboarding.single_user import NewUserForm, UserAdded, add_user

from .fixtures_smtp import SmtpServer, smtp_server
from .helpers import GOOD_PASSWORD, cheap_hasher, eventually, live_server

__all__ = ["smtp_server"]

pytestmark = pytest.mark.browser


async def test_added_in_the_console_emailed_and_signed_in(
    settings: Settings, browser: Browser, smtp_server: SmtpServer
) -> None:
    sock = bind_socket("127.0.0.1", 0)
    configured = msgspec.structs.replace(
        settings.with_port(bound_port(sock)), smtp_url=smtp_server.url, org="Acme Corp"
    )
    app = UsherApp(configured, sock=sock)
    async with app.run_test(size=(80, 24)) as pilot:

        async def server_up() -> bool:
            await pilot.pause()
            return app.server_state.state == "up"

        await eventually(server_up)
        await pilot.press("f6")
        await pilot.pause()
        assert isinstance(app.screen, AddUserScreen)
        await pilot.press(*"Ann", "enter", *"Lee", "enter", *"ann@acme.org")
        await pilot.press("tab", "left", "enter", "ctrl+s")  # Manager (left of Member), add

        async def delivered() -> bool:
            await pilot.pause()
            return bool(smtp_server.received_by("ann@acme.org"))

        await eventually(delivered, timeout=20)
        [received] = smtp_server.received_by("ann@acme.org")
        message = received.message
        assert str(message["Subject"]) == "Your Acme Corp account is ready"
        part = message.get_body(preferencelist=("plain",))
        assert part is not None
        body = part.get_content()
        assert "An account has been created for you at Acme Corp, as a manager." in body
        assert f"{configured.base_url}/login" in body
        assert "Sign in with this email address: ann@acme.org" in body
        match = re.search(rf"{re.escape(configured.base_url)}/password/set/\S+", body)
        assert match, body

        page = await browser.new_page()
        await page.goto(match.group(0))
        await expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
        await page.fill("#password", GOOD_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/login?notice=password-set")
        await page.fill("#email", "ann@acme.org")
        await page.fill("#password", GOOD_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/account")
        main = await page.locator("main").inner_text()
        assert "You are signed in to Acme Corp as Ann Lee" in main
        assert "Level\nManager" in main  # the level, as the account page names it

        # The link worked once.
        await page.goto(match.group(0))
        await expect(page.get_by_role("heading", level=1)).not_to_have_text("Choose your password")


async def test_a_generated_password_signs_in_once_and_must_be_changed(
    browser: Browser, listening: tuple[socket.socket, Settings]
) -> None:
    sock, live = listening
    async with await Store.open(live, hasher=cheap_hasher()) as store:
        await sign_in_once_then_change(store, browser, sock)


async def sign_in_once_then_change(store: Store, browser: Browser, sock: socket.socket) -> None:
    live = store.settings
    outcome = await add_user(
        store,
        NewUserForm(first_name="Cy", last_name="Young", email="cy@acme.org", choice="generate"),
        actor="tester",
    )
    assert isinstance(outcome, UserAdded) and outcome.credential is not None
    async with live_server(store, sock):
        page = await browser.new_page()
        await page.goto(f"{live.base_url}/login")
        await page.fill("#email", "cy@acme.org")
        await page.fill("#password", outcome.credential)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/account/password")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Choose your own password")
        await page.goto(f"{live.base_url}/account")  # nothing else before the change
        await page.wait_for_url("**/account/password")
        await page.fill("#current_password", outcome.credential)
        await page.fill("#password", GOOD_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/account?notice=password-changed")
        await page.click("text=Sign out")
        await page.wait_for_url("**/login?notice=signed-out")

        await page.fill("#email", "cy@acme.org")
        await page.fill("#password", outcome.credential)
        await page.click("button[type=submit]")
        await expect(page.locator("#email-error")).to_contain_text("password is not right")
        await page.fill("#password", GOOD_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/account")
