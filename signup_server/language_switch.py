"""The language switcher: a plain link to the same page with `?lang=fr` (no JavaScript, no
path echoed into the page), and the `before_send` hook that remembers it in a cookie. Also the
cookie that carries a link's language from the join form to the pages after it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from litestar import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from store import Settings
from store.domain.languages import COOKIE, SHIPPED
from store.onboarding.signup import UNCONFIRMED_VALID

from .cookies import cookie_value, expired_cookie, private_cookie

__all__ = [
    "FLOW_COOKIE",
    "QUERY",
    "asked_language",
    "flow_cookie",
    "flow_language",
    "remember_language_hook",
]

QUERY = "lang"
_YEAR = 365 * 24 * 3600
FLOW_COOKIE = "usher_flow_language"
"""The language the admin set for the signup this browser is in the middle of (its link's,
its account's): "check your email", "confirmed" and sign-in keep it, though they show no link.
Not the invitee's choice (that is `COOKIE`, which wins); gone when the signup would expire."""


def flow_cookie(settings: Settings, language: str | None) -> Cookie:
    """`FLOW_COOKIE` set to `language`, or removed when the link has none (so an earlier
    link's language does not linger). A person's cookie like the others (`cookies`)."""
    if language not in SHIPPED:
        return expired_cookie(settings, FLOW_COOKIE)
    lifetime = int(UNCONFIRMED_VALID.total_seconds())
    return private_cookie(settings, FLOW_COOKIE, str(language), max_age=lifetime)


def flow_language(request: Request[Any, Any, Any], settings: Settings) -> str | None:
    """The language `flow_cookie` carries, if it names a shipped one."""
    value = cookie_value(request, settings, FLOW_COOKIE)
    return value if value in SHIPPED else None


def asked_language(query_string: bytes | str) -> str | None:
    """The shipped language a switcher link asks for (`?lang=de`), or None."""
    if not query_string:  # most requests: no query at all, nothing to parse
        return None
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    values = parse_qs(query_string[:2000]).get(QUERY, [])
    return values[0] if values and values[0] in SHIPPED else None


def remember_language_hook(settings: Settings) -> BeforeMessageSendHookHandler:
    """Set the language cookie on the answer to a switcher link, so later pages (and the
    emails this browser's signup sends) keep the language."""

    async def remember_language(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        code = asked_language(scope.get("query_string", b""))
        if code is None:
            return
        cookie = Cookie(
            key=COOKIE,
            value=code,
            max_age=_YEAR,
            path="/",
            httponly=True,
            secure=settings.is_https,
            samesite="lax",
        )
        MutableScopeHeaders.from_message(message).add("set-cookie", cookie.to_header(header=""))

    return remember_language
