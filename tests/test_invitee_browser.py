"""The invitee's recovery paths in Debian's chromium on a phone viewport (390 by 844), axe-core on
every page (issue 17): nothing an invitee can do, or a mail scanner can do to them, leaves them
stuck waiting for the admin."""

from __future__ import annotations

import re
import socket

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from store import Settings, Store
from store.messaging.emails import render

from .browsers import PageChecker
from .helpers import GOOD_PASSWORD, live_server, make_link, outbox_rows

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}


async def phone(browser: Browser) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    return context, await context.new_page()


async def latest_email(store: Store, kind: str, to: str) -> tuple[str, list[str]]:
    """The newest `kind` email to `to`, rendered as it is sent: (text, every link in it)."""
    rows = [m for m in await outbox_rows(store, kind) if m["recipient"] == to]
    assert rows, f"no {kind} email to {to}"
    mail = render(kind, rows[-1]["values"], store.settings, recipient=to)
    links = re.findall(r"https?://[^\s\"'<>]+", mail.text + mail.html)
    return mail.text, sorted(set(links))


async def scan(links: list[str]) -> None:
    """A mail scanner (Safe Links, Mimecast): GETs every link, follows redirects, twice."""
    async with httpx.AsyncClient(follow_redirects=True) as scanner:
        for _ in range(2):
            for link in links:
                await scanner.get(link)


async def sign_up(page: Page, url: str, email: str, checker: PageChecker) -> None:
    await page.goto(url)
    await checker.check(page, "join")
    await page.fill("#email", email)
    await page.fill("#first_name", "Bea")
    await page.fill("#last_name", "Smith")
    await page.fill("#password", GOOD_PASSWORD)
    if await page.locator("#password_confirm").count():
        await page.fill("#password_confirm", GOOD_PASSWORD)
    await page.get_by_role("button", name="Create my account").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    await checker.check(page, "check-email")


async def test_a_scanner_opening_every_link_first_changes_nothing(
    fast_store: Store, listening: tuple[socket.socket, Settings], browser: Browser
) -> None:
    """The scanner GETs every link in the confirmation email before the person does; the
    person's own click still confirms, from the browser that signed up: no second password,
    sign-in opens with the address filled in. A later click says what is true now."""
    sock, settings = listening
    fast_store.settings = settings
    link = await make_link(fast_store)
    checker = PageChecker("invitee-scanner")
    async with live_server(fast_store, sock):
        context, page = await phone(browser)
        try:
            await sign_up(
                page, f"{settings.base_url}/join/{link.token}", "bea@example.org", checker
            )
            _, links = await latest_email(fast_store, "confirm_email", "bea@example.org")
            assert any("/confirm/" in url for url in links)
            await scan(links)
            assert await fast_store.engine.scalar("SELECT status FROM users") == "unconfirmed"

            confirm_url = next(url for url in links if "/confirm/" in url)
            await page.goto(confirm_url)
            await expect(page.get_by_role("heading", level=1)).to_have_text(
                "Confirm your email address"
            )
            await checker.check(page, "confirm")
            await page.get_by_role("button", name="Confirm my address").click()
            await expect(page.get_by_text("Your email address is confirmed")).to_be_visible()
            await expect(page.locator("#email")).to_have_value("bea@example.org")
            await checker.check(page, "sign-in-filled")
            await page.fill("#password", GOOD_PASSWORD)  # the one typed at signup
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
            await checker.check(page, "account")

            # The scanner comes back, then the person clicks the old link again.
            await scan(links)
            await page.goto(confirm_url)
            await expect(page.get_by_role("heading", level=1)).to_have_text(
                "Your email address is already confirmed"
            )
            await checker.check(page, "confirmed-already")
        finally:
            await context.close()


async def test_another_device_chooses_the_password_and_pending_never_says_sign_in(
    fast_store: Store, listening: tuple[socket.socket, Settings], browser: Browser
) -> None:
    """A link that needs approval, confirmed on another device (the pre-hijack rule: whoever
    confirms chooses the password); the pages after say "waiting for approval", not "sign in"."""
    sock, settings = listening
    fast_store.settings = settings
    link = await make_link(fast_store, auto_accept=False)
    checker = PageChecker("invitee-other-device")
    async with live_server(fast_store, sock):
        laptop, signup_page = await phone(browser)
        other, page = await phone(browser)
        try:
            url = f"{settings.base_url}/join/{link.token}"
            await sign_up(signup_page, url, "bea@example.org", checker)
            _, links = await latest_email(fast_store, "confirm_email", "bea@example.org")
            await scan(links)
            confirm_url = next(u for u in links if "/confirm/" in u)
            await page.goto(confirm_url)
            await page.get_by_role("button", name="Confirm my address").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
            await checker.check(page, "choose-password")
            await page.fill("#password", GOOD_PASSWORD)
            if await page.locator("#password_confirm").count():
                await page.fill("#password_confirm", GOOD_PASSWORD)
            await page.get_by_role("button", name="Set my password").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text(
                "Address confirmed: waiting for approval"
            )
            await expect(page.get_by_text("You can sign in now")).to_have_count(0)
            await checker.check(page, "confirmed-pending")
            await signup_page.goto(confirm_url)
            await expect(signup_page.get_by_role("heading", level=1)).to_have_text(
                "Address confirmed: waiting for approval"
            )
            await expect(signup_page.get_by_text("You can sign in now")).to_have_count(0)
        finally:
            await laptop.close()
            await other.close()


async def test_a_mistyped_address_on_a_one_use_link_is_put_right_without_the_admin(
    fast_store: Store, listening: tuple[socket.socket, Settings], browser: Browser
) -> None:
    """`--max-uses 1`: the person types bea@exmaple.org, sees it on "Check your email", asks
    again (rate-limited), then uses another address; the link sent to the typo stops working,
    the right one confirms from this browser and the signup password signs in."""
    sock, settings = listening
    fast_store.settings = settings
    link = await make_link(fast_store, max_uses=1)
    checker = PageChecker("invitee-mistyped")
    async with live_server(fast_store, sock):
        context, page = await phone(browser)
        try:
            url = f"{settings.base_url}/join/{link.token}"
            await sign_up(page, url, "bea@exmaple.org", checker)
            await expect(page.locator(".address")).to_have_text("bea@exmaple.org")
            await page.get_by_role("button", name="Send it again").click()
            await expect(page.get_by_text("We've sent it again.")).to_be_visible()
            await checker.check(page, "sent-again")
            _, typo_links = await latest_email(fast_store, "confirm_email", "bea@exmaple.org")
            await scan(typo_links)

            await page.get_by_role("link", name="Use another email address").click()
            await expect(page.locator("#email")).to_have_value("bea@exmaple.org")
            await checker.check(page, "change-address")
            await page.fill("#email", "bea@")
            await page.get_by_role("button", name="Send the link to this address").click()
            await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
            await checker.check(page, "change-address-refused")
            await page.fill("#email", "bea@example.org")
            await page.get_by_role("button", name="Send the link to this address").click()
            await expect(page.locator(".address")).to_have_text("bea@example.org")
            uses = await fast_store.engine.scalar("SELECT uses FROM invite_links")
            assert uses == 1  # one person, one use: the typo took none of its own

            typo_confirm = next(u for u in typo_links if "/confirm/" in u)
            stranger = await context.new_page()
            gone = await stranger.goto(typo_confirm)
            assert gone is not None and gone.status == 410  # the typo's owner cannot confirm
            await checker.check(stranger, "typo-link-gone")
            await stranger.close()

            _, links = await latest_email(fast_store, "confirm_email", "bea@example.org")
            await scan(links)
            await page.goto(next(u for u in links if "/confirm/" in u))
            await page.get_by_role("button", name="Confirm my address").click()
            await expect(page.locator("#email")).to_have_value("bea@example.org")
            await page.fill("#password", GOOD_PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
            await checker.check(page, "account")
        finally:
            await context.close()
