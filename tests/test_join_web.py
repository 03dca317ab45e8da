"""The signup and account pages over HTTP (`AsyncTestClient`, a real Store on a SQLite file):
every refusal is an HTML page that keeps what was typed (never a password), and tokens that lead
nowhere get one calm page."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import pytest
from litestar.testing import AsyncTestClient

from store import Store
from store.accounts.auth import request_password_reset
from store.domain.clock import now
from store.onboarding.link_attempts import BROWSER_TRIES
from store.onboarding.links import regenerate_link, revoke_link
from store.onboarding.signup import SignupForm, confirm_email, sign_up_by_link
from store.service.housekeeping import run_housekeeping

from .fixtures_invitations import invite
from .fixtures_postgres import settings_on_both_engines
from .fixtures_security import Client, csrf_from, submit
from .helpers import GOOD_PASSWORD, make_link, outbox_rows, token_in

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


def signup_fields(email: str = "ann@example.org", **extra: str) -> dict[str, str]:
    return {
        "email": email,
        "first_name": "Ann",
        "last_name": "Lee",
        "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
        **extra,
    }


def error_summary(text: str) -> str:
    match = re.search(r'<div class="error-summary".*?</div>', text, re.S)
    assert match, "no error summary"
    return html.unescape(match.group(0))


# --- the join page -------------------------------------------------------------------------------


async def test_join_page_says_org_and_level_and_takes_no_use(
    fast_store: Store, client: Client
) -> None:
    link = await make_link(fast_store, level="admin", auto_accept=False, password="opensesame")
    for _ in range(3):
        response = await client.get(f"/join/{link.token}")
    assert response.status_code == 200
    text = html.unescape(response.text)
    assert "You'll join Usher as an admin." in text
    assert "An administrator approves each new account" in text
    assert 'name="link_password"' in text
    for name in ["email", "first_name", "last_name", "password"]:
        assert f'name="{name}"' in text
    # One password field with a "show" button (added by script; without it, a plain field).
    assert 'name="password_confirm"' not in text
    assert 'data-show-password="password"' in text and "hidden>Show password" in text
    assert 'id="email" name="email" type="email" autocomplete="username"' in text
    assert 'id="link_password" name="link_password" type="password" autocomplete="off"' in text
    assert 'action="/join/' + link.token + '"' in text
    assert (await fast_store.engine.scalar("SELECT uses FROM invite_links")) == 0


async def test_signup_redirects_to_check_email_and_confirm_link_works(
    fast_store: Store, client: Client
) -> None:
    """Another browser confirms: it chooses the password (issue 15, pre-hijack)."""
    link = await make_link(fast_store)
    response = await submit(client, f"/join/{link.token}", signup_fields())
    assert response.status_code == 303
    assert response.headers["location"] == "/signup/check-email"
    done = await client.get("/signup/check-email")
    assert "Check your email" in done.text
    [mail] = await outbox_rows(fast_store, "confirm_email")
    confirm_path = "/confirm/" + token_in(mail["values"]["confirm_url"], "confirm")
    async with AsyncTestClient(client.app) as elsewhere:
        confirmed = await submit(elsewhere, confirm_path, {})
        assert confirmed.status_code == 303
        # whoever confirmed the address chooses the password next (issue 15, pre-hijack)
        assert confirmed.headers["location"].startswith("/password/set/")
        assert confirmed.headers["location"].endswith("?confirmed=1")
        chooser = await elsewhere.get(confirmed.headers["location"])
        assert "Your address is confirmed" in chooser.text
        assert 'name="username" value="ann@example.org" autocomplete="username"' in chooser.text
        chosen = await elsewhere.post(
            confirmed.headers["location"].partition("?")[0],
            data={"_csrf_token": csrf_from(chooser.text), "password": "a whole new passphrase"},
            follow_redirects=False,
        )
        assert chosen.headers["location"] == "/login?notice=password-set"
        sign_in_page = await elsewhere.get(chosen.headers["location"])
        assert 'value="ann@example.org"' in sign_in_page.text  # the address filled in
        again = await elsewhere.get(confirm_path)
        assert again.status_code == 200
        assert "already confirmed" in again.text and "Confirm my address" not in again.text
        posted_again = await submit(elsewhere, confirm_path, {}, page="/login")
        assert posted_again.headers["location"] == "/signup/already-confirmed"
    assert (await client.get("/signup/confirmed")).status_code == 200
    assert (await client.get("/signup/nonsense")).status_code == 404


async def test_opening_the_confirmation_link_changes_nothing(
    fast_store: Store, client: Client
) -> None:
    """A mail scanner GETs the link (twice, even): the account stays unconfirmed, the link
    keeps working, and the page carries a "Confirm my address" button that POSTs."""
    link = await make_link(fast_store)
    await submit(client, f"/join/{link.token}", signup_fields())
    [mail] = await outbox_rows(fast_store, "confirm_email")
    confirm_path = "/confirm/" + token_in(mail["values"]["confirm_url"], "confirm")
    async with AsyncTestClient(client.app) as scanner:
        for _ in range(2):
            opened = await scanner.get(confirm_path)
            assert opened.status_code == 200
            assert "Confirm my address" in opened.text
            assert f'method="post" action="{confirm_path}"' in opened.text
            assert '<meta name="robots" content="noindex' in opened.text
    assert await fast_store.engine.scalar("SELECT status FROM users") == "unconfirmed"
    assert await fast_store.engine.scalar("SELECT count(*) FROM action_tokens") == 1
    assert (await client.get("/confirm/nonsenseTOKENnonsense")).status_code == 404


async def test_the_signup_browser_keeps_its_password_and_signs_in_with_the_address_filled(
    fast_store: Store, client: Client
) -> None:
    """The browser that signed up (its HttpOnly signup cookie) confirms: no second password,
    sign-in next with the address already there, and the signup password opens the account."""
    link = await make_link(fast_store)
    response = await submit(client, f"/join/{link.token}", signup_fields())
    cookie = response.headers.get("set-cookie", "")
    assert "usher_signup=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    [mail] = await outbox_rows(fast_store, "confirm_email")
    confirm_path = "/confirm/" + token_in(mail["values"]["confirm_url"], "confirm")
    confirmed = await submit(client, confirm_path, {})
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/login?notice=confirmed"
    sign_in_page = await client.get(confirmed.headers["location"])
    assert 'value="ann@example.org"' in sign_in_page.text
    assert "Your email address is confirmed" in sign_in_page.text
    assert await fast_store.engine.scalar("SELECT status FROM users") == "active"
    signed_in = await submit(
        client, "/login", {"email": "ann@example.org", "password": GOOD_PASSWORD}
    )
    assert signed_in.headers["location"] == "/account"


async def test_a_signup_cookie_for_another_account_proves_nothing(
    fast_store: Store, client: Client
) -> None:
    """Bob's own signup cookie does not keep the password on Ann's account."""
    link = await make_link(fast_store)
    await submit(client, f"/join/{link.token}", signup_fields())  # Ann, elsewhere
    async with AsyncTestClient(client.app) as bob:
        await submit(bob, f"/join/{link.token}", signup_fields("bob@example.org"))
        mails = await outbox_rows(fast_store, "confirm_email")
        ann_mail = next(m for m in mails if m["recipient"] == "ann@example.org")
        path = "/confirm/" + token_in(ann_mail["values"]["confirm_url"], "confirm")
        confirmed = await submit(bob, path, {})
        assert confirmed.headers["location"].startswith("/password/set/")


async def test_existing_address_with_confirmation_looks_exactly_like_a_new_one(
    fast_store: Store, client: Client
) -> None:
    link = await make_link(fast_store)
    first = await submit(client, f"/join/{link.token}", signup_fields())
    [mail] = await outbox_rows(fast_store, "confirm_email")
    await confirm_email(fast_store, token_in(mail["values"]["confirm_url"], "confirm"), actor="w")
    second = await submit(client, f"/join/{link.token}", signup_fields(first_name="Eve"))
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    cookie_names = [
        sorted(c.split("=", 1)[0] for c in r.headers.get_list("set-cookie"))
        for r in (first, second)
    ]
    assert cookie_names[0] == cookie_names[1]
    kinds = [m["kind"] for m in await outbox_rows(fast_store)]
    assert kinds == ["confirm_email", "welcome", "account_exists"]


async def test_existing_address_without_confirmation_is_told_to_sign_in(
    fast_store: Store, client: Client
) -> None:
    link = await make_link(fast_store, confirm_email=False)
    assert (await submit(client, f"/join/{link.token}", signup_fields())).status_code == 303
    response = await submit(client, f"/join/{link.token}", signup_fields())
    assert response.status_code == 400
    assert "already exists" in error_summary(response.text)
    assert 'href="/login"' in response.text


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"email": "ann@@acme.org"}, "email", "correct format"),
        ({"email": "ann@elsewhere.example"}, "email", "acme.org"),
        ({"password": "password1", "password_confirm": "password1"}, "password", "too common"),
        ({"password": "short", "password_confirm": "short"}, "password", "at least 8"),
        ({"password_confirm": "not the same at all"}, "password_confirm", "match"),
        ({"link_password": "guess"}, "link_password", "not right"),
        ({"first_name": ""}, "first_name", "first name"),
    ],
)
async def test_refusals_keep_what_was_typed_but_no_password(
    fast_store: Store, client: Client, fields: dict[str, str], field: str, words: str
) -> None:
    link = await make_link(fast_store, domains=("acme.org",), password="opensesame")
    typed = {**signup_fields("ann@acme.org", link_password="opensesame"), **fields}
    typed["last_name"] = '<Lee & "Sons">'
    response = await submit(client, f"/join/{link.token}", typed)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    summary = error_summary(response.text)
    assert words in summary
    target = "password" if field == "password_confirm" else field  # one password field now
    assert f'href="#{target}"' in summary
    assert f'id="{target}-error"' in response.text
    assert "<title>Error: " in response.text
    assert 'value="&lt;Lee &amp; &#34;Sons&#34;&gt;"' in response.text
    assert f'value="{html.escape(typed["email"], quote=True)}"' in response.text
    for secret in {typed["password"], typed["password_confirm"]}:
        assert f'value="{secret}"' not in response.text
    # A right link password is kept (issue 17: no retyping three secrets); a wrong one is not.
    kept = '<input type="hidden" name="link_password" value="opensesame">'
    assert (kept in response.text) == (field != "link_password")
    assert 'value="guess"' not in response.text
    assert await fast_store.engine.scalar("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize("why", ["unknown", "expired", "used up", "revoked", "regenerated"])
async def test_dead_links_get_one_calm_page(fast_store: Store, client: Client, why: str) -> None:
    link = await make_link(fast_store, max_uses=1, confirm_email=False)
    token = link.token
    if why == "unknown":
        token = "x" * 43
    elif why == "expired":
        async with fast_store.write() as tx:
            await tx.execute("UPDATE invite_links SET expires_at = '2000-01-01T00:00:00.000000Z'")
    elif why == "used up":
        form = SignupForm(**signup_fields("first@example.org"))
        await sign_up_by_link(fast_store, token, form, actor="t")
    elif why == "revoked":
        await revoke_link(fast_store, link.id, actor="t")
    else:
        await regenerate_link(fast_store, link.id, actor="t")
    page = await client.get(f"/join/{token}")
    assert page.status_code in (404, 410)
    assert page.status_code == (410 if why in {"expired", "used up", "revoked"} else 404)
    assert "This link doesn&#39;t work" in page.text
    reference = await client.get("/join/" + "y" * 43)
    assert page.text == reference.text  # nothing says which reason it was
    post = await submit(client, f"/join/{token}", signup_fields("late@example.org"), page="/login")
    assert post.status_code == page.status_code
    assert post.text == reference.text


async def test_a_link_that_dies_while_the_form_is_open_gives_the_calm_page(
    fast_store: Store, client: Client
) -> None:
    link = await make_link(fast_store)
    form_page = await client.get(f"/join/{link.token}")
    await revoke_link(fast_store, link.id, actor="t")
    response = await client.post(
        f"/join/{link.token}",
        data={"_csrf_token": csrf_from(form_page.text), **signup_fields()},
        follow_redirects=False,
    )
    assert response.status_code == 410


async def test_link_password_guesses_are_limited_per_link_and_client(
    fast_store: Store, client: Client
) -> None:
    link = await make_link(fast_store, password="opensesame")
    other = await make_link(fast_store, password="opensesame")
    for _ in range(BROWSER_TRIES):
        wrong = await submit(client, f"/join/{link.token}", signup_fields(link_password="guess"))
        assert wrong.status_code == 400
    limited = await submit(client, f"/join/{link.token}", signup_fields(link_password="opensesame"))
    assert limited.status_code == 429
    assert "Too many attempts" in limited.text
    assert int(limited.headers["retry-after"]) > 0
    # Another link is not affected, and neither is opening the page.
    assert (await client.get(f"/join/{link.token}")).status_code == 200
    ok = await submit(client, f"/join/{other.token}", signup_fields(link_password="opensesame"))
    assert ok.status_code == 303


# --- accounts ------------------------------------------------------------------------------------


async def signed_up(fast_store: Store, client: Client, **link_fields: object) -> None:
    link = await make_link(fast_store, confirm_email=False, **link_fields)
    assert (await submit(client, f"/join/{link.token}", signup_fields())).status_code == 303


async def login(client: Client, password: str = GOOD_PASSWORD) -> httpx.Response:
    return await submit(client, "/login", {"email": "ann@example.org", "password": password})


async def test_login_account_and_logout(fast_store: Store, client: Client) -> None:
    assert (await client.get("/account", follow_redirects=False)).headers["location"] == "/login"
    await signed_up(fast_store, client)
    response = await login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("usher_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    account = await client.get("/account")
    assert "You are signed in to Usher as Ann Lee" in account.text
    assert 'href="/account/password"' in account.text
    out = await submit(client, "/logout", {}, page="/account")
    assert out.headers["location"] == "/login?notice=signed-out"
    assert (await client.get("/account", follow_redirects=False)).status_code == 303


async def test_wrong_password_and_unknown_address_read_the_same(
    fast_store: Store, client: Client
) -> None:
    await signed_up(fast_store, client)
    wrong = await login(client, "not my password")
    unknown = await submit(client, "/login", {"email": "who@example.org", "password": "x" * 9})
    assert wrong.status_code == unknown.status_code == 400
    assert error_summary(wrong.text) == error_summary(unknown.text)
    assert 'value="ann@example.org"' in wrong.text
    assert "not my password" not in wrong.text


@pytest.mark.parametrize("status", ["pending", "rejected", "disabled"])
async def test_blocked_accounts_see_only_their_state(
    fast_store: Store, client: Client, status: str
) -> None:
    await signed_up(fast_store, client)
    async with fast_store.write() as tx:
        await tx.execute("UPDATE users SET status = ?", (status,))
    assert (await login(client)).headers["location"] == "/account"
    account = await client.get("/account")
    assert {"pending": "waiting for approval", "rejected": "not approved", "disabled": "disabled"}[
        status
    ] in account.text
    assert 'href="/account/password"' not in account.text
    page = await client.get("/account/password", follow_redirects=False)
    assert page.headers["location"] == "/account"
    await submit(client, "/password/forgot", {"email": "ann@example.org"})
    assert await outbox_rows(fast_store, "set_password") == []


async def test_change_password_page(fast_store: Store, client: Client) -> None:
    await signed_up(fast_store, client)
    await login(client)
    bad = await submit(
        client,
        "/account/password",
        {"current_password": "wrong", "password": "short", "password_confirm": "short"},
    )
    assert bad.status_code == 400
    summary = error_summary(bad.text)
    assert "current password is not right" in summary and "at least 8" in summary
    new = "a fresh passphrase here"
    good = await submit(
        client,
        "/account/password",
        {"current_password": GOOD_PASSWORD, "password": new, "password_confirm": new},
    )
    assert good.headers["location"] == "/account?notice=password-changed"
    assert "Your password has been changed" in (await client.get(good.headers["location"])).text
    assert (await login(client, new)).status_code == 303


async def test_admin_set_password_must_be_changed_first(fast_store: Store, client: Client) -> None:
    await signed_up(fast_store, client)
    async with fast_store.write() as tx:
        await tx.execute("UPDATE users SET must_change_password = 1")
    assert (await login(client)).headers["location"] == "/account/password"
    account = await client.get("/account", follow_redirects=False)
    assert account.headers["location"] == "/account/password"
    assert "Choose your own password" in (await client.get("/account/password")).text


async def test_forgot_password_answers_the_same_and_set_link_is_single_use(
    fast_store: Store, client: Client
) -> None:
    await signed_up(fast_store, client)
    known = await submit(client, "/password/forgot", {"email": "ann@example.org"})
    unknown = await submit(client, "/password/forgot", {"email": "nobody@example.org"})
    assert known.headers["location"] == unknown.headers["location"] == "/password/forgot?sent=1"
    empty = await submit(client, "/password/forgot", {"email": ""})
    assert empty.status_code == 400
    [mail] = await outbox_rows(fast_store, "set_password")
    path = "/password/set/" + token_in(mail["values"]["set_password_url"], "password/set")
    page = await client.get(path)
    assert page.status_code == 200 and "ann@example.org" in page.text
    weak = await submit(client, path, {"password": "short", "password_confirm": "short"})
    assert weak.status_code == 400
    new = "chosen through the link"
    done = await submit(client, path, {"password": new, "password_confirm": new})
    assert done.headers["location"] == "/login?notice=password-set"
    assert "Your password is set" in (await client.get(done.headers["location"])).text
    assert (await client.get(path)).status_code == 410
    assert (await client.get("/password/set/" + "z" * 43)).status_code == 404
    assert (await login(client, new)).status_code == 303


async def test_signing_in_unconfirmed_sends_a_fresh_link_that_keeps_the_password_here(
    fast_store: Store, client: Client
) -> None:
    """The confirmation email is lost and the person tries to sign in (another browser, even):
    the right password sends a new link, and confirming it in this browser signs in with it."""
    link = await make_link(fast_store)
    await submit(client, f"/join/{link.token}", signup_fields())
    async with AsyncTestClient(client.app) as later:
        refused = await submit(
            later, "/login", {"email": "ann@example.org", "password": GOOD_PASSWORD}
        )
        assert refused.status_code == 400
        assert "sent a new confirmation link" in html.unescape(refused.text)
        mails = await outbox_rows(fast_store, "confirm_email")
        assert len(mails) == 2
        path = "/confirm/" + token_in(mails[-1]["values"]["confirm_url"], "confirm")
        confirmed = await submit(later, path, {})
        assert confirmed.headers["location"] == "/login?notice=confirmed"
        signed_in = await submit(
            later, "/login", {"email": "ann@example.org", "password": GOOD_PASSWORD}
        )
        assert signed_in.headers["location"] == "/account"


async def test_a_refused_form_says_the_real_cause_and_links_back_to_it(
    fast_store: Store, client: Client
) -> None:
    """CSRF 403: no cookie came back (blocked) or a stale token; either way a link back to the
    form it came from (issue 17)."""
    link = await make_link(fast_store)
    path = f"/join/{link.token}"
    async with AsyncTestClient(client.app) as no_cookies:
        blocked = await no_cookies.post(path, data=signup_fields(), follow_redirects=False)
    assert blocked.status_code == 403
    assert "cookies may be blocked" in blocked.text
    assert f'<a class="button" href="{path}">Back to the form</a>' in blocked.text
    await client.get(path)  # this browser has the cookie now
    stale = await client.post(
        path, data={"_csrf_token": "stale", **signup_fields()}, follow_redirects=False
    )
    assert stale.status_code == 403
    assert "open for too long" in stale.text and f'href="{path}"' in stale.text
    resend = await client.post("/signup/resend", data={"_csrf_token": "x"})
    assert 'href="/signup/check-email">Back to the form' in resend.text


async def test_opening_set_password_and_invitation_links_changes_nothing(
    fast_store: Store, client: Client
) -> None:
    """A scanner opens the reset link and an invitation link (twice): both still work for the
    person afterwards, and nothing was written."""

    link = await make_link(fast_store, confirm_email=False)
    await submit(client, f"/join/{link.token}", signup_fields())
    await request_password_reset(fast_store, "ann@example.org", actor="w")
    [reset] = await outbox_rows(fast_store, "set_password")
    set_path = "/password/set/" + token_in(reset["values"]["set_password_url"], "password/set")
    await invite(fast_store, "bo@example.org")
    [invitation] = await outbox_rows(fast_store, "invitation")
    invite_path = "/invite/" + token_in(invitation["values"]["accept_url"], "invite")
    before = await fast_store.engine.scalar("SELECT count(*) FROM audit")
    async with AsyncTestClient(client.app) as scanner:
        for _ in range(2):
            for path in (set_path, invite_path):
                opened = await scanner.get(path)
                assert opened.status_code == 200, path
                assert '<meta name="robots" content="noindex' in opened.text
    assert await fast_store.engine.scalar("SELECT count(*) FROM audit") == before
    chosen = await submit(client, set_path, {"password": "a brand new passphrase here"})
    assert chosen.status_code == 303
    accepted = await submit(
        client, invite_path, {"first_name": "Bo", "password": "another fine passphrase"}
    )
    assert accepted.status_code == 303


async def test_a_used_confirmation_link_still_says_the_truth_after_housekeeping(
    fast_store: Store, client: Client
) -> None:
    """Issue 17: housekeeping used to delete a used link, so a late click (or one after a
    scanner's) said "This link doesn't work". It is kept 30 days and says what is true now:
    waiting for approval, never "You can sign in now"."""
    link = await make_link(fast_store, auto_accept=False)
    await submit(client, f"/join/{link.token}", signup_fields())
    [mail] = await outbox_rows(fast_store, "confirm_email")
    path = "/confirm/" + token_in(mail["values"]["confirm_url"], "confirm")
    await submit(client, path, {})
    await run_housekeeping(fast_store, now=now() + timedelta(days=2))
    later = await client.get(path)
    assert later.status_code == 200
    assert "Address confirmed: waiting for approval" in later.text
    assert "You can sign in now" not in later.text
    await run_housekeeping(fast_store, now=now() + timedelta(days=31))
    assert (await client.get(path)).status_code == 404
