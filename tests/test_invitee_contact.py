"""Dead ends name someone (issue 17): USHER_CONTACT on the pages and in the emails that used to
say only "ask the person who invited you"; the inviter's name in invitation emails."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from signup_server import create_app
from store import Settings, Store
from store.messaging.emails import render
from store.service.settings import SettingsError, load_settings

from .fixtures_ux import EMAIL_SAMPLES

CONTACT = "Ann Lee, ann@acme.org"


def test_usher_contact_is_read_and_checked() -> None:
    assert load_settings(environ={"USHER_CONTACT": CONTACT}).contact == CONTACT
    assert load_settings(environ={}).contact == ""
    for bad in ("Ann\x1b[2J", "Ann\u202eeL", "x" * 201):
        with pytest.raises(SettingsError, match="contact"):
            load_settings(environ={"USHER_CONTACT": bad})


async def test_dead_links_and_closed_accounts_name_the_contact(
    fast_store: Store, settings: Settings
) -> None:
    named = Settings(
        **{**{f: getattr(settings, f) for f in Settings.__struct_fields__}, "contact": CONTACT}
    )
    app = create_app(fast_store, named, secret_key=await fast_store.secret_key())
    async with AsyncTestClient(app) as client:
        for path in ("/join/nolinkhere0000", "/invite/nolinkhere0000", "/confirm/nolink000"):
            page = await client.get(path)
            assert page.status_code == 404
            assert CONTACT in page.text, path
        assert CONTACT in (await client.get("/signup/closed")).text


def test_the_rejection_and_invitation_emails_name_someone() -> None:
    named = Settings(contact=CONTACT, org="Acme")
    rejected = render("rejected", {"reason": ""}, named, recipient="bo@x.org")
    assert f"please contact {CONTACT}." in rejected.text
    invitation = render(
        "invitation",
        {
            "first_name": "Bo",
            "level_words": "a member",
            "accept_url": "https://acme.example/invite/abc",
            "expires": "1 May",
            "message": "",
            "inviter": "Ann Lee",
        },
        named,
    )
    assert invitation.subject == "Ann Lee invited you to Acme"
    assert "Ann Lee invited you to join Acme as a member." in invitation.text
    plain = render("rejected", {"reason": ""}, Settings(), recipient="bo@x.org")
    assert "the person who sent you the link" in plain.text


def test_every_email_greets_the_same_way_and_never_by_the_bare_address() -> None:
    plain = Settings()
    by_name = render(
        "approved", {"login_url": "u"}, plain, recipient="a@x.org", recipient_name="Ann Lee"
    )
    assert by_name.text.startswith("Hello Ann Lee,")
    first = render(
        "welcome",
        {"first_name": "Ann", "level": "member", "login_url": "u"},
        plain,
        recipient="a@x.org",
        recipient_name="Ann Lee",
    )
    assert first.text.startswith("Hello Ann,")
    nobody = render("rejected", {"reason": ""}, plain, recipient="a@x.org")
    assert nobody.text.startswith("Hello,") and "a@x.org" not in nobody.text.splitlines()[0]
    subjects = {
        render(kind, EMAIL_SAMPLES[kind], plain).subject for kind in ("approved", "account_created")
    }
    assert len(subjects) == 2  # approved and account-created say different things


def test_no_email_breaks_an_address_mid_word() -> None:
    """The "copy this address" fallback under each button wraps only where it must
    (`overflow-wrap:anywhere`), never at every character (`word-break:break-all`)."""
    for kind, values in EMAIL_SAMPLES.items():
        html = render(kind, values, Settings(), recipient="a@x.org").html
        assert "break-all" not in html, kind
