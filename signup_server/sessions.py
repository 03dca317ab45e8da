"""The sign-in cookie: a random token (only its SHA-256 is stored), HttpOnly, SameSite=Lax,
Secure and `__Host-` when the public URL is https."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from store import Settings, Store
from store.accounts.auth import SESSION_VALID, Session, session_user
from store.domain.records import User

from .cookies import cookie_name, cookie_value, expired_cookie, private_cookie

__all__ = ["clear_cookie", "current_user", "session_cookie", "session_cookie_name", "session_token"]


_BASE = "usher_session"


def session_cookie_name(settings: Settings) -> str:
    return cookie_name(settings, _BASE)


def session_token(request: Request[Any, Any, Any], settings: Settings) -> str:
    return cookie_value(request, settings, _BASE)


async def current_user(
    request: Request[Any, Any, Any], store: Store, settings: Settings
) -> tuple[str, User | None]:
    """(cookie token, the signed-in user or None)."""
    token = session_token(request, settings)
    return token, await session_user(store, token)


def session_cookie(settings: Settings, session: Session) -> Cookie:
    return private_cookie(
        settings, _BASE, session.token, max_age=int(SESSION_VALID.total_seconds())
    )


def clear_cookie(settings: Settings) -> Cookie:
    return expired_cookie(settings, _BASE)
