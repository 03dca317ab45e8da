"""A French browser signs up end to end and reads its confirmation email in French; the French
and Arabic join pages pass axe-core; a link the admin forced to German speaks German to a
French browser, in its pages and its emails (Debian's chromium via Playwright, a real
aiosmtpd)."""

from __future__ import annotations

import asyncio
import socket
from email.message import EmailMessage

import msgspec
import pytest
from playwright.async_api import Browser, expect

from store import Settings, Store
from store.messaging.delivery import run_delivery
from store.onboarding.approvals import approve

from .browsers import PageChecker
from .fixtures_smtp import Inbox
from .helpers import GOOD_PASSWORD, eventually, live_server, make_link

pytestmark = pytest.mark.browser


async def test_a_french_browser_signs_up_and_reads_its_email_in_french(
    fast_store: Store,
    listening: tuple[socket.socket, Settings],
    browser: Browser,
    smtp: tuple[Inbox, int],
) -> None:
    inbox, smtp_port = smtp
    sock, bound = listening
    fast_store.settings = msgspec.structs.replace(bound, smtp_url=f"smtp://127.0.0.1:{smtp_port}")
    link = await make_link(fast_store, confirm_email=True)
    checker = PageChecker("languages-fr")
    stop = asyncio.Event()
    async with live_server(fast_store, sock):
        delivery = asyncio.create_task(run_delivery(fast_store, stop_event=stop, poll=0.05))
        context = await browser.new_context(locale="fr-FR")  # Accept-Language: fr-FR,fr
        page = await context.new_page()
        await page.goto(link.url(fast_store.settings))
        await expect(page.locator("html")).to_have_attribute("lang", "fr")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Rejoindre Usher")
        await expect(page.get_by_text("Vous rejoindrez Usher en tant que membre.")).to_be_visible()
        await checker.check(page, "join")

        await page.fill("#email", "lea@example.org")
        await page.fill("#first_name", "Léa")
        await page.fill("#password", GOOD_PASSWORD)
        await page.get_by_role("button", name="Créer mon compte").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Consultez vos e-mails")
        await checker.check(page, "check-email")

        async def arrived() -> bool:
            return inbox.find("lea@example.org", "Confirmez votre adresse") is not None

        await eventually(arrived, timeout=30)
        message = inbox.find("lea@example.org", "Confirmez votre adresse")
        assert message is not None
        text = message.get_body(preferencelist=("plain",))
        assert text is not None
        body = text.get_content()
        assert "Bonjour Léa," in body
        assert "Vous avez demandé à rejoindre Usher en tant que membre." in body
        html_part = message.get_body(preferencelist=("html",))
        assert html_part is not None and '<html lang="fr">' in html_part.get_content()

        await page.goto(inbox.link_in(message, "confirm"))
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Confirmez votre adresse e-mail"
        )
        await checker.check(page, "confirm")
        await page.get_by_role("button", name="Confirmer mon adresse").click()
        await expect(page.get_by_text("Votre adresse e-mail est confirmée")).to_be_visible()

        # The switcher: a plain link, remembered for the next page.
        await page.get_by_role("link", name="Deutsch").click()
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        await page.goto(fast_store.settings.base_url + "/login")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
        await context.close()
        stop.set()
        await delivery


async def test_the_arabic_join_page_is_right_to_left_and_accessible(
    fast_store: Store, listening: tuple[socket.socket, Settings], browser: Browser
) -> None:
    sock, bound = listening
    fast_store.settings = bound
    link = await make_link(fast_store, password="opensesame", domains=("acme.org",))
    checker = PageChecker("languages-ar")
    async with live_server(fast_store, sock):
        context = await browser.new_context(locale="ar")
        page = await context.new_page()
        await page.goto(link.url(bound))
        await expect(page.locator("html")).to_have_attribute("dir", "rtl")
        await expect(page.get_by_role("button", name="إنشاء حسابي")).to_be_visible()
        # Right to left: the heading's text starts at the card's right edge.
        heading = await page.get_by_role("heading", level=1).bounding_box()
        card = await page.locator(".card__body").bounding_box()
        assert heading is not None and card is not None
        assert card["x"] + card["width"] - (heading["x"] + heading["width"]) < 48
        await checker.check(page, "join")
        await page.set_viewport_size({"width": 360, "height": 740})  # a phone: nothing overflows
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await checker.check(page, "join-phone")
        await context.close()


async def test_a_link_forced_to_german_speaks_german_to_a_french_browser_and_its_emails_too(
    fast_store: Store,
    listening: tuple[socket.socket, Settings],
    browser: Browser,
    smtp: tuple[Inbox, int],
) -> None:
    """Issue 22: the admin sets German on a link; a browser preferring French reads every page of
    the signup in German, and the confirmation, the "waiting for approval" and, after the
    admin approves, the approval email are German."""
    inbox, smtp_port = smtp
    sock, bound = listening
    fast_store.settings = msgspec.structs.replace(bound, smtp_url=f"smtp://127.0.0.1:{smtp_port}")
    link = await make_link(fast_store, language="de", confirm_email=True, auto_accept=False)
    checker = PageChecker("languages-de-link")
    stop = asyncio.Event()
    async with live_server(fast_store, sock):
        delivery = asyncio.create_task(run_delivery(fast_store, stop_event=stop, poll=0.05))
        context = await browser.new_context(locale="fr-FR")  # Accept-Language: fr-FR,fr
        page = await context.new_page()
        await page.goto(link.url(fast_store.settings))
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Usher beitreten")
        await checker.check(page, "join")

        await page.fill("#email", "jonas@example.org")
        await page.fill("#first_name", "Jonas")
        await page.fill("#password", GOOD_PASSWORD)
        await page.get_by_role("button", name="Mein Konto anlegen").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sehen Sie in Ihr Postfach")
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        await checker.check(page, "check-email")

        async def mail(subject: str) -> EmailMessage:
            async def arrived() -> bool:
                return inbox.find("jonas@example.org", subject) is not None

            await eventually(arrived, timeout=30)
            found = inbox.find("jonas@example.org", subject)
            assert found is not None
            html_part = found.get_body(preferencelist=("html",))
            assert html_part is not None and '<html lang="de">' in html_part.get_content()
            return found

        confirmation = await mail("Bestätigen Sie Ihre E-Mail-Adresse für Usher")
        plain = confirmation.get_body(preferencelist=("plain",))
        assert plain is not None and "Jonas" in plain.get_content()
        confirm_url = inbox.link_in(confirmation, "confirm")

        # Opened in another French browser (a phone's mail app): still the account's German.
        elsewhere = await browser.new_context(locale="fr-FR")
        other = await elsewhere.new_page()
        await other.goto(confirm_url)
        await expect(other.locator("html")).to_have_attribute("lang", "de")
        await elsewhere.close()

        await page.goto(confirm_url)
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Bestätigen Sie Ihre E-Mail-Adresse"
        )
        await checker.check(page, "confirm")
        await page.get_by_role("button", name="Meine Adresse bestätigen").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Adresse bestätigt: wartet auf Freigabe"
        )
        await checker.check(page, "confirmed-pending")
        await mail("Ihre Anfrage, Usher beizutreten, wartet auf Freigabe")

        [waiting] = await fast_store.engine.fetchall("SELECT id, language FROM users")
        assert waiting["language"] == "de"
        await approve(fast_store, [int(waiting["id"])], actor="tester")
        approved = await mail("Ihr Konto bei Usher ist freigegeben")
        body = approved.get_body(preferencelist=("plain",))
        assert body is not None
        assert "Ihr Konto bei Usher wurde freigegeben" in body.get_content()
        await context.close()
        stop.set()
        await delivery
