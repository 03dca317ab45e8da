"""The invitee's side in a real browser (Debian's chromium through Playwright): follow the
invitation link, create the account, and see a dead link refused. axe-core checks every page.

The accept link is read from the email's values in the outbox; `test_invite_full_flow.py`
takes it from the email itself."""

from __future__ import annotations

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page

from store import Store
from store.onboarding.invitations import list_invitations, resend_invitation

from .fixtures_invitations import ADMIN, accept_link, invite, scalar, served
from .helpers import GOOD_PASSWORD

__all__ = ["served"]

pytestmark = pytest.mark.browser


async def assert_accessible(page: Page) -> None:
    results = await Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


async def test_follow_the_link_and_create_the_account(served: Store, browser: Browser) -> None:
    await invite(served, '"Lee, Ann" <ann@x.org>', message="Welcome to the spring class")
    url = await accept_link(served, "ann@x.org")
    page = await browser.new_page()
    await page.goto(url)
    assert await page.title() == f"Accept your invitation · {served.settings.org}"
    await assert_accessible(page)
    email = page.locator("#email")
    assert await email.input_value() == "ann@x.org"
    assert await email.get_attribute("readonly") is not None
    assert await page.locator("#first_name").input_value() == "Ann"
    assert await page.locator("#last_name").input_value() == "Lee"
    assert "Welcome to the spring class" in await page.locator("main").inner_text()

    # a mistake first: the error summary and the inline message, no account yet
    await page.fill("#password", "short")
    # one field with "Show password" (issue 17): the script shows it, and hides it again
    await page.get_by_role("button", name="Show password").click()
    assert await page.locator("#password").get_attribute("type") == "text"
    await page.get_by_role("button", name="Hide password").click()
    assert await page.locator("#password").get_attribute("type") == "password"
    await page.click("button[type=submit]")
    await page.wait_for_selector(".error-summary")
    assert "at least 8" in await page.locator(".error-summary").inner_text()
    await assert_accessible(page)
    assert await scalar(served, "SELECT count(*) FROM users") == 0

    await page.fill("#password", GOOD_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/invitation/accepted")
    assert await page.locator("h1").inner_text() == "Your account is ready"
    assert await page.locator("a[href='/login']").count() == 1
    await assert_accessible(page)
    row = await served.engine.fetchone("SELECT email, first_name, status, source FROM users")
    assert row is not None and tuple(row) == ("ann@x.org", "Ann", "active", "invitation")
    assert (await list_invitations(served))[0].status == "accepted"

    # the account is active at once: sign in with it
    await page.click("a[href='/login']")
    await page.wait_for_url("**/login")
    await page.fill("#email", "ann@x.org")
    await page.fill("#password", GOOD_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/account")
    assert "You are signed in" in await page.locator("main").inner_text()

    # the link is single-use
    response = await page.goto(url)
    assert response is not None and response.status == 410
    assert await page.locator("h1").inner_text() == "This invitation has already been used"
    await assert_accessible(page)


async def test_after_a_resend_the_old_link_is_refused_and_the_new_one_works(
    served: Store, browser: Browser
) -> None:
    await invite(served, "bob@y.org")
    old = await accept_link(served, "bob@y.org")
    (invitation,) = await list_invitations(served)
    await resend_invitation(served, invitation.id, actor=ADMIN)
    new = await accept_link(served, "bob@y.org")
    assert new != old
    page = await browser.new_page()
    response = await page.goto(old)
    assert response is not None and response.status == 404
    assert "who invited you" in await page.locator("main").inner_text()
    assert await page.locator("form").count() == 0
    await assert_accessible(page)

    await page.goto(new)
    await page.fill("#first_name", "Bob")
    await page.fill("#last_name", "Stone")
    await page.fill("#password", GOOD_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/invitation/accepted")
    assert await scalar(served, "SELECT status FROM users WHERE email = 'bob@y.org'") == "active"
