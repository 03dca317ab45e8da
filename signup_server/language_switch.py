"""The language switcher: a plain link to the same page with `?lang=fr` (no JavaScript, no
path echoed into the page), and the `before_send` hook that remembers it in a cookie."""

from __future__ import annotations

from urllib.parse import parse_qs

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from store import Settings
from store.languages import COOKIE, SHIPPED

__all__ = ["QUERY", "asked_language", "remember_language_hook"]

QUERY = "lang"
_YEAR = 365 * 24 * 3600


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
