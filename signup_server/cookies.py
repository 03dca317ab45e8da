"""The one shape of every cookie the signup server keeps for a person: HttpOnly, path /, and
Secure with the `__Host-` prefix when the public URL is https. One function makes them, so no
cookie is ever set looser than the others."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request
from litestar.datastructures import Cookie

from store import Settings

__all__ = ["cookie_name", "cookie_value", "expired_cookie", "private_cookie"]

SameSite = Literal["lax", "strict"]


def cookie_name(settings: Settings, base: str) -> str:
    return f"__Host-{base}" if settings.is_https else base


def private_cookie(
    settings: Settings, base: str, value: str, *, max_age: int, samesite: SameSite = "lax"
) -> Cookie:
    return Cookie(
        key=cookie_name(settings, base),
        value=value,
        path="/",
        max_age=max_age,
        secure=settings.is_https,
        httponly=True,
        samesite=samesite,
    )


def expired_cookie(settings: Settings, base: str, *, samesite: SameSite = "lax") -> Cookie:
    """The same cookie, emptied and expired at once (the browser drops it)."""
    return private_cookie(settings, base, "", max_age=0, samesite=samesite)


def cookie_value(request: Request[Any, Any, Any], settings: Settings, base: str) -> str:
    return request.cookies.get(cookie_name(settings, base), "")
