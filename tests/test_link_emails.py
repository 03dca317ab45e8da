"""The emails a link signup causes: every kind queued has its three templates, and the mail
renderer (StrictUndefined) renders them with exactly the values queued, links included,
passwords never."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from store import Settings, Store
from store.accounts.auth import request_password_reset
from store.accounts.users import send_set_password_link
from store.messaging.emails import render as render_email
from store.onboarding.signup import confirm_email, sign_up_by_link

from .helpers import GOOD_PASSWORD, ROOT, form, make_link, outbox_rows, token_in

TEMPLATES = ROOT / "store" / "messaging" / "emails" / "templates"
KINDS = ["confirm_email", "welcome", "pending_approval", "account_exists", "set_password"]
LINK_KEYS = {
    "confirm_email": "confirm_url",
    "welcome": "login_url",
    "account_exists": "forgot_url",
    "set_password": "set_password_url",
}


def render(kind: str, row: dict[str, Any], settings: Settings) -> tuple[str, str, str]:
    """The mail renderer's own output, as the delivery worker will send it."""
    rendered = render_email(
        kind,
        row["values"],
        settings,
        recipient=row["recipient"],
        recipient_name=row["recipient_name"],
    )
    return rendered.subject, rendered.text, rendered.html


async def test_set_password_renders_for_the_users_screen_too(fast_store: Store) -> None:
    """The Users screen's "resend set-password link" queues the same email, made by the same
    function, as a reset does (it used to mint its own token with its own value keys)."""
    auto = await make_link(fast_store, confirm_email=False)
    outcome = await sign_up_by_link(fast_store, auto.token, form("bob@example.org"), actor="w")
    assert outcome.user_id is not None
    await send_set_password_link(fast_store, outcome.user_id, actor="admin")
    [row] = await outbox_rows(fast_store, "set_password")
    _, text, html = render("set_password", row, fast_store.settings)
    assert row["values"]["set_password_url"] in text
    assert f'href="{row["values"]["set_password_url"]}"' in html
    assert "Hello Ann," in text  # greeted by first name, as every email is
    assert "for 72 hours" in text


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_has_three_templates(kind: str) -> None:
    for suffix in (".subject.txt", ".txt", ".html"):
        assert Path(TEMPLATES, kind + suffix).is_file(), kind + suffix


async def test_every_queued_email_renders_with_its_values(fast_store: Store) -> None:
    confirm = await make_link(fast_store, auto_accept=False, level="admin")
    await sign_up_by_link(fast_store, confirm.token, form("ann@example.org"), actor="w")
    [confirmation] = await outbox_rows(fast_store, "confirm_email")
    token = token_in(confirmation["values"]["confirm_url"], "confirm")
    await confirm_email(fast_store, token, actor="w")
    # confirmed: a second signup with the address tells its owner (unconfirmed, it would resend)
    await sign_up_by_link(fast_store, confirm.token, form("ann@example.org"), actor="w")
    auto = await make_link(fast_store, confirm_email=False)
    await sign_up_by_link(fast_store, auto.token, form("bob@example.org"), actor="w")
    await request_password_reset(fast_store, "bob@example.org", actor="w")

    org = msgspec.structs.replace(fast_store.settings, org="Acme <Corp>")
    rows = await outbox_rows(fast_store)
    assert sorted({row["kind"] for row in rows}) == sorted(KINDS)
    for row in rows:
        subject, text, html = render(row["kind"], row, org)
        assert "\n" not in subject.strip()
        assert "Acme <Corp>" in subject
        assert GOOD_PASSWORD not in text + html
        key = LINK_KEYS.get(row["kind"])
        if key:
            url = row["values"][key]
            assert url in text
            assert f'href="{url}"' in html
        assert "Acme &lt;Corp&gt;" in html  # escaped in HTML
    confirm_text = render("confirm_email", confirmation, org)[1]
    assert "for 24 hours" in confirm_text
    [reset] = await outbox_rows(fast_store, "set_password")
    assert "for 72 hours" in render("set_password", reset, org)[1]
    assert "as an admin" in confirm_text
    assert "approve your account" in confirm_text
