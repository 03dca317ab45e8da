"""Fixtures for the adversarial suite: a hasher that counts its argon2 work, and a "world" — a
signup server on a real Store with one usable token for every route that takes one, so a test
can reach every form with a valid CSRF token.

The POST routes are read from the app itself (`post_routes`), so a form added later is covered
by the CSRF, body-limit, rate-limit and fuzz tests without editing them.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from signup_server import create_app
from signup_server.security import CSP, PERMISSIONS_POLICY
from store import Settings, Store
from store.accounts.auth import request_password_reset
from store.domain.passwords import Hasher
from store.onboarding.email_lists import parse_email_list
from store.onboarding.invitations import send_invitations
from store.onboarding.links import Link, LinkDraft, create_link
from store.onboarding.signup import SignupForm, sign_up_by_link

CHEAP: dict[str, int] = {"time_cost": 1, "memory_kib": 8}
"""argon2id at its cheapest: the same code paths, a fraction of a millisecond per hash."""

GOOD_PASSWORD = "correct horse battery staple"
MEMBER = "sam@example.org"
"""An active account in every world (signed in on `World.client`)."""
INVITEE = "ivy@example.org"
"""Holds a pending invitation in every world."""

Client = AsyncTestClient[Litestar]
"""What the `client` fixture (conftest.py) gives: the signup server in process."""


class CountingHasher(Hasher):
    """A real argon2id `Hasher` that counts the argon2 operations it runs, and how many run at
    the same moment (`peak`). `delay` stretches each one, to make overlap visible."""

    def __init__(self, *, delay: float = 0.0, **params: Any) -> None:
        super().__init__(**{**CHEAP, **params})
        self._delay = delay
        self._lock = threading.Lock()
        self.hashes = 0
        self.verifies = 0
        self.running = 0
        self.peak = 0

    @property
    def argon2_ops(self) -> int:
        return self.hashes + self.verifies

    @contextlib.contextmanager
    def _counted(self, kind: str) -> Any:
        with self._lock:
            setattr(self, kind, getattr(self, kind) + 1)
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self._delay:
                time.sleep(self._delay)
            yield
        finally:
            with self._lock:
                self.running -= 1

    def _hash_sync(self, password: str) -> str:
        with self._counted("hashes"):
            return super()._hash_sync(password)

    def _verify_sync(self, stored: str, password: str) -> bool:
        with self._counted("verifies"):
            return super()._verify_sync(stored, password)


# --- pages and forms -------------------------------------------------------------------------


def csrf_from(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF hidden input"
    return match.group(1)


async def submit(
    client: Client, path: str, fields: dict[str, str], *, page: str | None = None
) -> httpx.Response:
    """GET the form (or `page`), then POST it with its CSRF token, not following redirects."""
    form_page = await client.get(page or path)
    token = csrf_from(form_page.text)
    return await client.post(path, data={"_csrf_token": token, **fields}, follow_redirects=False)


def without_csrf(html: str) -> str:
    """A page with its (per-request) CSRF token blanked, to compare two answers."""
    return re.sub(r'name="_csrf_token" value="[^"]+"', 'name="_csrf_token" value=""', html)


def assert_security_headers(response: httpx.Response, *, https: bool = False) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == CSP
    assert "default-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
    assert "unsafe-inline" not in CSP
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["permissions-policy"] == PERMISSIONS_POLICY  # issue 17
    assert ("strict-transport-security" in headers) == https


def assert_html_page(response: httpx.Response, status: int) -> None:
    """A readable HTML page (ours), not Litestar's JSON error body and not a traceback."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert "<!doctype html>" in response.text
    assert "<h1>" in response.text
    assert '"status_code"' not in response.text
    assert "Traceback" not in response.text


def post_routes(app: Litestar) -> list[str]:
    """Every path template that accepts POST, as the app registered it."""
    return sorted(route.path for route in app.routes if "POST" in getattr(route, "methods", ()))


def get_routes(app: Litestar) -> list[str]:
    return sorted(route.path for route in app.routes if "GET" in getattr(route, "methods", ()))


@dataclass
class World:
    """An app on a store, with a usable token for every route that needs one."""

    app: Litestar
    store: Store
    client: Client
    hasher: CountingHasher
    link: Link
    invitation_token: str
    set_password_token: str
    confirm_token: str
    outcomes: dict[str, str] = field(default_factory=dict)

    def path(self, template: str) -> str:
        """A concrete path for a route template, using this world's tokens."""
        concrete = {
            "/join/{token:str}": f"/join/{self.link.token}",
            "/invite/{token:str}": f"/invite/{self.invitation_token}",
            "/password/set/{token:str}": f"/password/set/{self.set_password_token}",
            "/confirm/{token:str}": f"/confirm/{self.confirm_token}",
            "/signup/{page_name:str}": "/signup/check-email",
            "/invitation/{outcome:str}": "/invitation/accepted",
            "/static/{file_path:path}": "/static/usher.css",
        }
        if template in concrete:
            return concrete[template]
        return re.sub(r"\{[^}]+\}", "x", template)

    def form_page(self, template: str) -> str:
        """The page that carries the form posting to `template` (or any form, for /logout)."""
        return {"/logout": "/account/password", "/signup/resend": "/signup/change-address"}.get(
            template, self.path(template)
        )

    async def token(self) -> str:
        return csrf_from((await self.client.get("/login")).text)


FORM_FIELDS: dict[str, dict[str, str]] = {
    "/join/{token:str}": {
        "email": "new@example.org",
        "first_name": "Nia",
        "last_name": "Ode",
        "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
        "link_password": "",
    },
    "/login": {"email": MEMBER, "password": GOOD_PASSWORD},
    "/logout": {},
    "/account/password": {
        "current_password": GOOD_PASSWORD,
        "password": "another long passphrase",
        "password_confirm": "another long passphrase",
    },
    "/password/forgot": {"email": MEMBER},
    "/password/set/{token:str}": {
        "password": "a passphrase from the link",
        "password_confirm": "a passphrase from the link",
    },
    "/invite/{token:str}": {
        "first_name": "Ivy",
        "last_name": "Ng",
        "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
    },
    "/confirm/{token:str}": {},
    "/signup/resend": {},
    "/signup/change-address": {"email": "moved@example.org"},
}
"""What a well-meaning person types into each form."""

HANDLER_ANSWERS: dict[str, set[int]] = {
    "/join/{token:str}": {303},
    "/login": {303},
    "/logout": {303},
    "/account/password": {303},
    "/password/forgot": {303},
    "/password/set/{token:str}": {303},
    "/invite/{token:str}": {303},
    "/confirm/{token:str}": {303},
    "/signup/resend": {303},
    "/signup/change-address": {303, 400},  # 400 in a browser that made no signup
}
"""What each handler answers a well-formed, CSRF-valid submission with."""


async def _token_of(store: Store, kind: str, key: str) -> str:
    row = await store.engine.fetchone(
        "SELECT payload FROM outbox WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)
    )
    assert row is not None, f"no {kind} email"
    url = str(msgspec.json.decode(row["payload"])[key])
    return url.rsplit("/", 1)[1]


async def populate(store: Store) -> tuple[Link, str, str, str]:
    """A link, an invitation, an account with a set-password link, and an unconfirmed one."""
    link = await create_link(
        store, msgspec.structs.replace(LinkDraft(), confirm_email=False), actor="tester"
    )
    form = SignupForm(
        email=MEMBER,
        first_name="Sam",
        last_name="Ray",
        password=GOOD_PASSWORD,
        password_confirm=GOOD_PASSWORD,
    )
    await sign_up_by_link(store, link.token, form, actor="tester")
    await request_password_reset(store, MEMBER, actor="tester")
    set_password = await _token_of(store, "set_password", "set_password_url")
    await send_invitations(store, parse_email_list(INVITEE).entries, level="member", actor="tester")
    invitation = await _token_of(store, "invitation", "accept_url")
    confirming = await create_link(store, LinkDraft(), actor="tester")
    await sign_up_by_link(
        store,
        confirming.token,
        msgspec.structs.replace(form, email="una@example.org", first_name="Una"),
        actor="tester",
    )
    confirm = await _token_of(store, "confirm_email", "confirm_url")
    return link, invitation, set_password, confirm


@contextlib.asynccontextmanager
async def open_world(
    settings: Settings,
    *,
    hasher: CountingHasher | None = None,
    signed_in: bool = True,
    base_url: str | None = None,
    peer: str | None = None,
    **flags: Any,
) -> AsyncIterator[World]:
    """A world on `settings.db`; `flags` change the settings (e.g. rate_limit, public_url).

    `peer` is the TCP peer every request seems to come from (the test client's is the name
    `testclient`, which no trusted proxy setting can name)."""
    settings = msgspec.structs.replace(settings, **flags)
    counting = hasher or CountingHasher()
    async with await Store.open(settings, hasher=counting) as store:
        link, invitation, set_password, confirm = await populate(store)
        app = create_app(store, settings, secret_key=await store.secret_key())
        if peer is not None:
            from_peer(app, peer)
        client_args: dict[str, Any] = {"base_url": base_url} if base_url else {}
        async with AsyncTestClient(app, **client_args) as client:
            world = World(app, store, client, counting, link, invitation, set_password, confirm)
            if signed_in:
                token = await world.token()
                response = await client.post(
                    "/login",
                    data={"_csrf_token": token, "email": MEMBER, "password": GOOD_PASSWORD},
                    follow_redirects=False,
                )
                assert response.status_code == 303, response.text
            yield world


def from_peer(app: Litestar, host: str) -> None:
    """Make every request to `app` arrive from `host` (as if over TCP from that address)."""
    inner = app.asgi_handler

    async def handler(scope: Any, receive: Any, send: Any) -> None:
        scope["client"] = (host, 50000)
        await inner(scope, receive, send)

    app.asgi_handler = handler


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    async with open_world(settings) as opened:
        yield opened


def merged(*parts: Mapping[str, str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for part in parts:
        result.update(part)
    return result
