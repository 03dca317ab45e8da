"""The acceptance pages through `AsyncTestClient`, on a real store: the form, its refusals, the
account made at once, and one clear page for every link that no longer works."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from store import Store
from store.onboarding.invitations import list_invitations, resend_invitation, revoke_invitation

from .fixtures_invitations import (
    ADMIN,
    accept_link,
    invite,
    scalar,
    token_of,
)
from .fixtures_security import csrf_from
from .helpers import GOOD_PASSWORD


async def path_for(store: Store, email: str) -> str:
    return "/invite/" + token_of(await accept_link(store, email))


async def submit(
    client: AsyncTestClient[Litestar], path: str, **fields: str
) -> tuple[httpx.Response, httpx.Response]:
    page = await client.get(path)
    form = {"_csrf_token": csrf_from(page.text), **fields}
    return page, await client.post(path, data=form, follow_redirects=False)


GOOD = {
    "first_name": "Ann",
    "last_name": "Lee",
    "password": GOOD_PASSWORD,
    "password_confirm": GOOD_PASSWORD,
}


async def test_the_form_shows_the_fixed_address_and_suggested_names(
    client: AsyncTestClient[Litestar], fast_store: Store
) -> None:
    await invite(fast_store, '"Lee, Ann" <ann@x.org>', level="admin", message="Hi <b>there</b>")
    response = await client.get(await path_for(fast_store, "ann@x.org"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert re.search(r'<input[^>]*id="email"[^>]*value="ann@x.org"[^>]*readonly', html, re.S)
    assert 'value="Ann"' in html and 'value="Lee"' in html
    assert "as an admin" in html
    assert "Hi &lt;b&gt;there&lt;/b&gt;" in html
    assert 'name="password_confirm"' not in html  # one field with "show" (issue 17)


async def test_accepting_creates_the_account_and_redirects(
    client: AsyncTestClient[Litestar], fast_store: Store
) -> None:
    await invite(fast_store, "ann@x.org")
    path = await path_for(fast_store, "ann@x.org")
    _, response = await submit(
        client, path, email="mallory@evil.org", **GOOD
    )  # a posted address is ignored
    assert response.status_code == 303
    assert response.headers["location"] == "/invitation/accepted"
    done = await client.get("/invitation/accepted")
    assert done.status_code == 200
    assert "Your account is ready" in done.text and 'href="/login"' in done.text
    row = await fast_store.engine.fetchone("SELECT email, status, source FROM users")
    assert row is not None and tuple(row) == ("ann@x.org", "active", "invitation")
    (invitation,) = await list_invitations(fast_store)
    assert invitation.status == "accepted"
    actor = await scalar(fast_store, "SELECT actor FROM audit WHERE action = 'invitation_accepted'")
    assert actor.startswith("web ")
    again = await client.get(path)
    assert again.status_code == 410
    assert "already been used" in again.text and 'href="/login"' in again.text


async def test_form_errors_are_shown_with_the_error_summary(
    client: AsyncTestClient[Litestar], fast_store: Store
) -> None:
    await invite(fast_store, "ann@x.org")
    path = await path_for(fast_store, "ann@x.org")
    _, response = await submit(
        client,
        path,
        first_name="",
        last_name="Lee",
        password="password",
        password_confirm="password",
    )
    assert response.status_code == 400
    html = response.text
    assert "There is a problem" in html
    assert '<a href="#first_name">Enter your first name</a>' in html
    assert "too common" in html
    assert 'value="Lee"' in html
    assert 'value="password"' not in html  # passwords are never sent back
    assert await scalar(fast_store, "SELECT count(*) FROM users") == 0


async def test_post_without_csrf_is_refused(
    client: AsyncTestClient[Litestar], fast_store: Store
) -> None:
    await invite(fast_store, "ann@x.org")
    response = await client.post(await path_for(fast_store, "ann@x.org"), data=GOOD)
    assert response.status_code == 403
    assert await scalar(fast_store, "SELECT count(*) FROM users") == 0


async def test_every_dead_link_gets_one_clear_page(
    client: AsyncTestClient[Litestar], fast_store: Store
) -> None:
    await invite(fast_store, "old@x.org", valid=timedelta(seconds=-1))
    await invite(fast_store, "rev@x.org, re@x.org")
    expired = await path_for(fast_store, "old@x.org")
    revoked = await path_for(fast_store, "rev@x.org")
    replaced = await path_for(fast_store, "re@x.org")
    by_email = {i.email: i.id for i in await list_invitations(fast_store)}
    await revoke_invitation(fast_store, by_email["rev@x.org"], actor=ADMIN)
    await resend_invitation(fast_store, by_email["re@x.org"], actor=ADMIN)
    cases = [
        (expired, 410, "This invitation has expired"),
        (revoked, 410, "This invitation has been withdrawn"),
        (replaced, 404, "This invitation link doesn&#39;t work"),
        ("/invite/not-a-token", 404, "This invitation link doesn&#39;t work"),
    ]
    for path, status, heading in cases:
        response = await client.get(path)
        assert response.status_code == status, path
        assert heading in response.text
        # whom to ask, named: the inviter when the invitation is known (issue 17)
        whom = "who invited you" if status == 404 else "Ask alice to send you a new invitation"
        words = " ".join(html.unescape(response.text).split())
        assert whom in words or "ask alice." in words
        assert "<form" not in response.text
    # posting to a dead link is refused the same way, and writes nothing
    page = await client.get("/invite/not-a-token")
    response = await client.post(
        expired, data={"_csrf_token": csrf_token_from_cookie(client), **GOOD}
    )
    assert response.status_code == 410 and "expired" in response.text
    assert page.status_code == 404
    assert await scalar(fast_store, "SELECT count(*) FROM users") == 0


def csrf_token_from_cookie(client: AsyncTestClient[Litestar]) -> str:
    """Litestar's CSRF token is the cookie's value (double submit)."""
    return str(client.cookies.get("usher_csrf"))


async def test_an_existing_account_is_sent_to_sign_in(
    client: AsyncTestClient[Litestar], fast_store: Store
) -> None:
    await invite(fast_store, "ann@x.org")
    path = await path_for(fast_store, "ann@x.org")
    page = await client.get(path)
    async with fast_store.write("users") as tx:
        await tx.execute(
            "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
            "VALUES ('ann@x.org', 'ann@x.org', 'member', 'active', 'x', 'x')"
        )
    response = await client.post(
        path, data={"_csrf_token": csrf_from(page.text), **GOOD}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/invitation/sign-in"
    again = await client.get(path, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/invitation/sign-in"
    sign_in = await client.get("/invitation/sign-in")
    assert "You already have an account" in sign_in.text and 'href="/login"' in sign_in.text
    assert (await client.get("/invitation/whatever")).status_code == 404
