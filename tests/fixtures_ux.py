"""Helpers for the invitee-facing review tests: a client on the signup server, form posting
with the page's CSRF token, and sample values for every email kind."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from signup_server import create_app
from store import Settings, Store

from .fixtures_links import GOOD_PASSWORD

Client = AsyncTestClient[Litestar]

URL = "https://join.acme.org/a/very/long/path/that/must/wrap/" + "x" * 60
"""Long enough that an email which does not wrap its URLs overflows a phone's width."""

EMAIL_SAMPLES: dict[str, dict[str, Any]] = {
    "account_created": {
        "level": "member",
        "login_url": URL,
        "sign_in_email": "ann@acme.org",
        "set_password_url": URL,
        "set_password_hours": 72,
        "first_name": "Ann",
        "has_initial_password": True,
    },
    "account_exists": {"first_name": "Ann", "login_url": URL, "forgot_url": URL},
    "approved": {"login_url": URL},
    "confirm_email": {
        "first_name": "Ann",
        "level": "member",
        "confirm_url": URL,
        "valid_hours": 24,
        "needs_approval": True,
    },
    "invitation": {
        "first_name": "Ann",
        "level": "member",
        "level_words": "a member",
        "message": "Welcome aboard!\nSee you Monday.",
        "inviter": "",
        "accept_url": URL,
        "expires": "9 December 2026",
    },
    "pending_approval": {"first_name": "Ann", "level": "member"},
    "pending_digest": {
        "count": 2,
        "total_pending": 3,
        "more": 0,
        "people": [
            {"name": "Ann Lee", "email": "ann@acme.org", "level": "member", "via": "Spring"},
            {"name": "", "email": "kim@acme.org", "level": "viewer", "via": "Wiki"},
        ],
    },
    "rejected": {"reason": "Staff only.\nAsk your manager."},
    "set_password": {"first_name": "Ann", "set_password_url": URL, "valid_hours": 72},
    "test": {"sent_by": "alice@host"},
    "welcome": {"first_name": "Ann", "level": "member", "login_url": URL},
}


@pytest.fixture
async def client(fast_store: Store, settings: Settings) -> AsyncIterator[Client]:
    app = create_app(fast_store, settings, secret_key=await fast_store.secret_key())
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def submit(
    client: Client, path: str, fields: dict[str, str], *, page: str | None = None
) -> httpx.Response:
    """GET the form (or `page`), then POST it with its CSRF token, not following redirects."""
    form_page = await client.get(page or path)
    match = re.search(r'name="_csrf_token" value="([^"]+)"', form_page.text)
    assert match, f"no CSRF field on {page or path}"
    return await client.post(
        path, data={"_csrf_token": match.group(1), **fields}, follow_redirects=False
    )


def signup_fields(email: str = "ann@example.org", **extra: str) -> dict[str, str]:
    return {
        "email": email,
        "first_name": "Ann",
        "last_name": "Lee",
        "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
        **extra,
    }
