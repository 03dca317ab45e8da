"""Two small cookies of the signup path: the signup browser's proof (so confirming from the
browser that signed up keeps the password typed there, store.onboarding.confirmation) and the
address to fill in on the next sign-in form (so nobody types it again after confirming or setting a
password). Both HttpOnly; neither is a credential on its own."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from litestar import Request
from litestar.datastructures import Cookie

from store import Settings
from store.onboarding.signup import UNCONFIRMED_VALID

from .cookies import cookie_value, expired_cookie, private_cookie

__all__ = [
    "email_hint",
    "email_hint_cookie",
    "signup_cookie",
    "signup_cookie_gone",
    "signup_proof",
]

_HINT_SECONDS = 3600
"""An hour: long enough to come back to "Check your email", short on a shared computer."""


_PROOF = "usher_signup"
_HINT = "usher_email"


def signup_cookie(settings: Settings, proof: str) -> Cookie:
    """SameSite=Strict: the email client's click carries none of it, the page's own
    "Confirm my address" POST does."""
    lifetime = int(UNCONFIRMED_VALID.total_seconds())
    return private_cookie(settings, _PROOF, proof, max_age=lifetime, samesite="strict")


def signup_cookie_gone(settings: Settings) -> Cookie:
    return expired_cookie(settings, _PROOF, samesite="strict")


def signup_proof(request: Request[Any, Any, Any], settings: Settings) -> str:
    return cookie_value(request, settings, _PROOF)[:200]


def email_hint_cookie(settings: Settings, email: str) -> Cookie:
    return private_cookie(settings, _HINT, quote(email, safe="@"), max_age=_HINT_SECONDS)


def email_hint(request: Request[Any, Any, Any], settings: Settings) -> str:
    """The address to fill in, if this browser has just confirmed or set a password."""
    value = unquote(cookie_value(request, settings, _HINT)[:800])
    return value if "@" in value and len(value) <= 254 and value.isprintable() else ""
