"""What invitees see, reviewed by hand and pinned here: every page that asks for a new password
states the rules first, each step says what happens next, refusals point somewhere useful, and
every email kind has one look, paragraphs apart in text, and fits a phone."""

from __future__ import annotations

import html
import re

import pytest
from playwright.async_api import Browser

from signup_server.render import STATIC_DIR
from store import Settings, Store
from store.domain.passwords import MAX_LENGTH, MIN_LENGTH
from store.messaging.emails import known_kinds, render

from .fixtures_invitations import accept_link, invite
from .fixtures_security import Client, submit
from .fixtures_ux import EMAIL_SAMPLES, signup_fields
from .helpers import GOOD_PASSWORD, make_link, outbox_rows

RULES = (
    f"Use {MIN_LENGTH} to {MAX_LENGTH} characters that are not easy to guess: not a common "
    "password or pattern (like Password1! or Summer2025!), and nothing built on your name, your "
    "email address or Usher."
)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def text_of(page: str) -> str:
    """The page's words with tags gone and whitespace folded, as a reader meets them."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def assert_new_password_form(page: str) -> None:
    assert RULES in text_of(page)
    field = re.search(r'<input[^>]* id="password"[^>]*>', page)
    assert field
    assert 'autocomplete="new-password"' in field.group(0)
    assert 'id="password_confirm"' not in page  # one field, with "Show password" (issue 17)
    assert 'data-show-password="password"' in page
    assert 'aria-describedby="password-hint"' in page


async def signed_in(store: Store, client: Client, *, must_change: bool = False) -> None:
    link = await make_link(store, confirm_email=False)
    assert (await submit(client, f"/join/{link.token}", signup_fields())).status_code == 303
    if must_change:
        async with store.write() as tx:
            await tx.execute("UPDATE users SET must_change_password = 1")
    fields = {"email": "ann@example.org", "password": GOOD_PASSWORD}
    assert (await submit(client, "/login", fields)).status_code == 303


# --- pages ---------------------------------------------------------------------------------------


async def test_every_new_password_page_states_the_rules_first(
    fast_store: Store, client: Client
) -> None:
    link = await make_link(fast_store)
    assert_new_password_form((await client.get(f"/join/{link.token}")).text)

    await invite(fast_store, "Bo Ng <bo@acme.org>")
    assert_new_password_form(
        (await client.get(path_of(await accept_link(fast_store, "bo@acme.org")))).text
    )

    await signed_in(fast_store, client, must_change=True)
    must_change = (await client.get("/account/password")).text
    assert_new_password_form(must_change)
    assert "The password you were given" in must_change
    assert 'action="/logout"' in must_change  # a way out that isn't "change it first"

    await submit(client, "/password/forgot", {"email": "ann@example.org"})
    [mail] = await outbox_rows(fast_store, "set_password")
    set_page = (await client.get(path_of(mail["values"]["set_password_url"]))).text
    assert_new_password_form(set_page)
    assert 'autocomplete="username"' in set_page


@pytest.mark.parametrize(
    ("confirm", "auto_accept", "next_step"),
    [
        (True, False, "confirm your address. An administrator approves each new account"),
        (True, True, "confirm your address. Once you've opened it, you can sign in."),
        (False, False, "An administrator approves each new account before it can be used"),
        (False, True, "You can sign in as soon as your account is created."),
    ],
)
async def test_join_page_says_what_happens_after_submitting(
    fast_store: Store, client: Client, confirm: bool, auto_accept: bool, next_step: str
) -> None:
    link = await make_link(fast_store, confirm_email=confirm, auto_accept=auto_accept)
    words = text_of((await client.get(f"/join/{link.token}")).text)
    assert next_step in words
    assert not re.search(r"\.[A-Z]", words), "two sentences run together"


async def test_link_password_comes_first_and_the_summary_follows_the_page(
    fast_store: Store, client: Client
) -> None:
    link = await make_link(fast_store, password="opensesame", domains=("acme.org",))
    fields = signup_fields("ann@example.org", link_password="guess")
    page = (await submit(client, f"/join/{link.token}", fields)).text
    assert page.index('id="link_password"') < page.index('id="email"')
    summary = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    assert summary and "autofocus" in summary.group(0)
    assert re.findall(r'href="#(\w+)"', summary.group(0)) == ["link_password", "email"]
    assert "choose your own password for your account below" in text_of(page)
    assert "Type it again: for your security, a password is never kept" in text_of(page)


async def test_invitation_message_keeps_its_line_breaks(fast_store: Store, client: Client) -> None:
    await invite(fast_store, "bo@acme.org", message="Welcome aboard!\nSee you Monday.")
    page = (await client.get(path_of(await accept_link(fast_store, "bo@acme.org")))).text
    assert '<blockquote class="message">Welcome aboard!\nSee you Monday.</blockquote>' in page
    css = (STATIC_DIR / "usher.css").read_text()
    assert re.search(r"\.message \{[^}]*white-space: pre-line", css)
    assert re.search(r"\.field__input\[readonly\] \{", css)  # the fixed address looks fixed


async def test_dead_links_and_done_pages_lead_on(fast_store: Store, client: Client) -> None:
    dead = await client.get("/join/no-such-token")
    assert dead.status_code == 404
    assert 'href="/login"' in dead.text
    for done in ("/signup/ready", "/signup/confirmed", "/invitation/accepted"):
        assert re.search(r'<a class="button" href="/login">', (await client.get(done)).text), done
    assert (
        'href="/password/forgot"'
        in (await client.get(f"/join/{(await make_link(fast_store)).token}")).text
    )


# --- emails --------------------------------------------------------------------------------------


def rendered(kind: str, **changes: object) -> tuple[str, str]:
    settings = Settings(org="Acme Corp", public_url="https://join.acme.org")
    values = {**EMAIL_SAMPLES[kind], **changes}
    mail = render(kind, values, settings, recipient="ann@acme.org", recipient_name="Ann Lee")
    return mail.text, mail.html


def test_samples_cover_every_kind() -> None:
    assert sorted(EMAIL_SAMPLES) == known_kinds()


@pytest.mark.parametrize("kind", sorted(EMAIL_SAMPLES))
def test_text_emails_keep_paragraphs_apart(kind: str) -> None:
    for variant in (
        {},
        {"has_initial_password": False, "needs_approval": False, "reason": "", "message": ""},
    ):
        text, _ = rendered(kind, **variant)
        assert "\n\n\n" not in text, variant
        for line in text.splitlines():
            if line.startswith("If ") and line != text.splitlines()[0]:
                before = text.splitlines()[text.splitlines().index(line) - 1]
                assert before == "", f"{kind}: no blank line before {line!r}"


def test_text_email_details() -> None:
    created, _ = rendered(
        "account_created",
        set_password_url="https://join.acme.org/password/set/T",
        login_url="https://join.acme.org/login",
    )
    assert created.index("/password/set") < created.index("Then sign in at")
    assert '"Forgotten your password?"' in created  # the sign-in page's own words
    digest, _ = rendered("pending_digest")
    assert "- kim@acme.org as viewer" in digest  # no "kim@acme.org <kim@acme.org>"
    rejected, _ = rendered("rejected")
    assert "\n\nThe reason given:\n\nStaff only.\nAsk your manager.\n\nIf you think" in rejected


@pytest.mark.parametrize("kind", sorted(EMAIL_SAMPLES))
def test_html_emails_share_one_look(kind: str) -> None:
    _, page = rendered(kind)
    body = page.split("<body", 1)[1]
    assert not re.search(r"<p>|<p\s*>", body), "a paragraph without the shared style"
    for anchor in re.findall(r"<a [^>]*>", body):
        assert "style=" in anchor, anchor
    if kind in {
        "account_created",
        "approved",
        "confirm_email",
        "invitation",
        "set_password",
        "welcome",
    }:
        assert "background:#1d4ed8" in body, "the main action is a button, the site's colour"
        assert "overflow-wrap:anywhere" in body, "the address to copy wraps on a phone"
    if kind in {"invitation", "rejected"}:
        assert re.search(r'<blockquote style="[^"]*white-space:pre-line', body)


@pytest.mark.browser
async def test_html_emails_fit_a_phone(browser: Browser) -> None:
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    try:
        for kind in sorted(EMAIL_SAMPLES):
            await page.set_content(rendered(kind)[1])
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{kind} is {width}px wide on a 390px phone"
    finally:
        await page.close()
