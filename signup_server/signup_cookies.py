"""Two small cookies of the signup path: the signup browser's proof (so confirming from the
browser that signed up keeps the password typed there, store.confirmation) and the address to
fill in on the next sign-in form (so nobody types it again after confirming or setting a
password). Both HttpOnly; neither is a credential on its own."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from litestar import Request
from litestar.datastructures import Cookie

from store import Settings
from store.signup import UNCONFIRMED_VALID

__all__ = [
    "email_hint",
    "email_hint_cookie",
    "signup_cookie",
    "signup_cookie_gone",
    "signup_proof",
]

_HINT_SECONDS = 3600
"""An hour: long enough to come back to "Check your email", short on a shared computer."""


def _name(settings: Settings, base: str) -> str:
    return f"__Host-{base}" if settings.is_https else base


def signup_cookie(settings: Settings, proof: str) -> Cookie:
    """SameSite=Strict: the email client's click carries none of it, the page's own
    "Confirm my address" POST does."""
    return Cookie(
        key=_name(settings, "usher_signup"),
        value=proof,
        path="/",
        max_age=int(UNCONFIRMED_VALID.total_seconds()),
        secure=settings.is_https,
        httponly=True,
        samesite="strict",
    )


def signup_cookie_gone(settings: Settings) -> Cookie:
    return Cookie(
        key=_name(settings, "usher_signup"),
        value="",
        path="/",
        max_age=0,
        secure=settings.is_https,
        httponly=True,
        samesite="strict",
    )


def signup_proof(request: Request[Any, Any, Any], settings: Settings) -> str:
    return request.cookies.get(_name(settings, "usher_signup"), "")[:200]


def email_hint_cookie(settings: Settings, email: str) -> Cookie:
    return Cookie(
        key=_name(settings, "usher_email"),
        value=quote(email, safe="@"),
        path="/",
        max_age=_HINT_SECONDS,
        secure=settings.is_https,
        httponly=True,
        samesite="lax",
    )


def email_hint(request: Request[Any, Any, Any], settings: Settings) -> str:
    """The address to fill in, if this browser has just confirmed or set a password."""
    value = unquote(request.cookies.get(_name(settings, "usher_email"), "")[:800])
    return value if "@" in value and len(value) <= 254 and value.isprintable() else ""
