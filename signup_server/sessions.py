"""The sign-in cookie: a random token (only its SHA-256 is stored), HttpOnly, SameSite=Lax,
Secure and `__Host-` when the public URL is https."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from store import Settings, Store
from store.records import User
from store.signup import SESSION_VALID, Session, session_user

__all__ = ["clear_cookie", "current_user", "session_cookie", "session_cookie_name", "session_token"]


def session_cookie_name(settings: Settings) -> str:
    return "__Host-usher_session" if settings.is_https else "usher_session"


def session_token(request: Request[Any, Any, Any], settings: Settings) -> str:
    return request.cookies.get(session_cookie_name(settings), "")


async def current_user(
    request: Request[Any, Any, Any], store: Store, settings: Settings
) -> tuple[str, User | None]:
    """(cookie token, the signed-in user or None)."""
    token = session_token(request, settings)
    return token, await session_user(store, token)


def session_cookie(settings: Settings, session: Session) -> Cookie:
    return Cookie(
        key=session_cookie_name(settings),
        value=session.token,
        path="/",
        max_age=int(SESSION_VALID.total_seconds()),
        secure=settings.is_https,
        httponly=True,
        samesite="lax",
    )


def clear_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=session_cookie_name(settings),
        value="",
        path="/",
        max_age=0,
        secure=settings.is_https,
        httponly=True,
        samesite="lax",
    )
