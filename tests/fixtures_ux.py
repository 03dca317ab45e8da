"""Helpers for the invitee-facing review tests: a client on the signup server, form posting
with the page's CSRF token, and sample values for every email kind."""

from __future__ import annotations

from typing import Any

from .helpers import GOOD_PASSWORD

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


def signup_fields(email: str = "ann@example.org", **extra: str) -> dict[str, str]:
    return {
        "email": email,
        "first_name": "Ann",
        "last_name": "Lee",
        "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
        **extra,
    }
