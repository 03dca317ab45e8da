"""Every refusal is a calm HTML page: Litestar's JSON error bodies are replaced here.

Exception handlers run outside the route (a 404 for an unknown path never reaches one), so they
render `error.html` themselves and fall back to a fixed page should the template ever fail: an
error page must not be able to raise.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap, Scope

from store.database.engine import DatabaseError, temporarily_unavailable
from store.domain.languages import N_
from store.domain.text import clean_line
from store.onboarding.link_attempts import wait_words

from .deps import settings_from
from .runner import redact_path
from .security import client_ip

__all__ = [
    "ERROR_PAGES",
    "ErrorPage",
    "Gone",
    "exception_handlers",
    "log_exception",
    "logger",
]

logger = logging.getLogger("usher.web")
"""Where the signup server logs. The console attaches a handler to show these in a panel; the
NullHandler keeps Python's last-resort handler from writing over the terminal when none is set."""
logger.addHandler(logging.NullHandler())


class Gone(HTTPException):
    """A token that existed but can no longer be used (expired, used up, revoked).

    It renders the same page as 404 on purpose: the page must not tell a stranger which tokens
    were once real."""

    status_code = HTTPStatus.GONE


class ErrorPage(msgspec.Struct, frozen=True):
    """What one status code says: a heading and one sentence, no detail from the exception."""

    title: str
    message: str


_LINK_GONE = ErrorPage(
    N_("This link doesn't work"),
    N_(
        "The link may be mistyped, or it has expired or been used already. "
        "Check the link you were sent, or ask the person who sent it for a new one."
    ),
)

ERROR_PAGES: dict[int, ErrorPage] = {
    400: ErrorPage(
        N_("Something in that request was not right"),
        N_("Go back, check what you entered and try again."),
    ),
    403: ErrorPage(
        N_("This form has expired"),
        N_(
            "For your security, forms only work for a while. "
            "Go back, reload the page and try again."
        ),
    ),
    404: _LINK_GONE,
    405: ErrorPage(
        N_("That can't be done here"),
        N_("This page doesn't accept that kind of request. Go back and try again."),
    ),
    410: _LINK_GONE,
    413: ErrorPage(
        N_("That was too much to send"),
        N_("What you sent is larger than this service accepts. Shorten it and try again."),
    ),
    429: ErrorPage(
        N_("Too many attempts"),
        N_("Too many forms came from here in a short time, so this one was not accepted."),
    ),
    500: ErrorPage(
        N_("Something went wrong"),
        N_("The problem is on our side, not yours. Please try again in a few minutes."),
    ),
    503: ErrorPage(
        N_("The service is busy"),
        N_(
            "Nothing was saved, and the problem is on our side, not yours. "
            "Wait a minute, then go back and send the form again."
        ),
    ),
}

_FALLBACK_HTML = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Something went wrong</title></head><body><main><h1>Something went wrong</h1>"
    "<p>The problem is on our side, not yours. Please try again in a few minutes.</p>"
    "</main></body></html>"
)


def page_for(status_code: int) -> ErrorPage:
    """The words for `status_code`; unknown codes get their standard phrase and a safe sentence."""
    if status_code in ERROR_PAGES:
        return ERROR_PAGES[status_code]
    if status_code >= 500:
        return ERROR_PAGES[500]
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "Something in that request was not right"
    return ErrorPage(phrase, "Go back and try again.")


def _honest(page: ErrorPage, status_code: int, headers: dict[str, str] | None) -> ErrorPage:
    """A 429 says the wait its Retry-After header says (in words), never a fixed "a minute"."""
    retry_after = (headers or {}).get("Retry-After", "")
    if status_code != HTTPStatus.TOO_MANY_REQUESTS or not retry_after.isdigit():
        return page
    return ErrorPage(page.title, f"Please wait {wait_words(int(retry_after))}, then try again.")


_FORM_PAGES = {"/logout": "/account", "/signup/resend": "/signup/check-email"}
"""Where the form that POSTs to a path lives, when it is not that path itself."""
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._~/-]{0,300}")


def form_page(request: Request[Any, Any, Any]) -> str:
    """The page to go back to after a refused POST: the form it came from (kept within this
    site: a path of plain characters, never `//host`)."""
    path = request.url.path
    if request.method != "POST" or not _SAFE_PATH.fullmatch(path) or path.startswith("//"):
        return ""
    return _FORM_PAGES.get(path, path)


def _csrf_cause(request: Request[Any, Any, Any]) -> str:
    """The real cause of a CSRF refusal: no cookie came back (cookies blocked) or an old one."""
    if not any(name.endswith("usher_csrf") for name in request.cookies):
        return (
            "Your browser did not send back the cookie this form needs: cookies may be blocked "
            "for this site. Allow them, then go back to the form and send it again."
        )
    return (
        "The form was open for too long, or was opened in another tab since. Go back to the "
        "form, reload it and send it again: what you typed is not saved."
    )


def error_response(
    request: Request[Any, Any, Any], status_code: int, headers: dict[str, str] | None = None
) -> Response[str]:
    """Render `error.html` for `status_code` now, so a template failure cannot escape."""
    page = _honest(page_for(status_code), status_code, headers)
    try:
        engine = request.app.template_engine
        if engine is None:
            raise RuntimeError("no template engine configured")
        body = engine.get_template("error.html").render(
            status_code=status_code,
            title=page.title,
            message=_csrf_cause(request) if status_code == 403 else page.message,
            request=request,
            back=form_page(request) if status_code in (403, 429) else "",
        )
    except Exception:
        with contextlib.suppress(Exception):
            logger.exception("error page for status %d could not be rendered", status_code)
        body = _FALLBACK_HTML
    return Response(
        content=body,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers=headers,
    )


def _http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
    """Litestar's own refusals (404, 405, 413, 429, CSRF 403, form validation 400) and ours."""
    headers = dict(exc.headers or {})
    if exc.status_code == HTTPStatus.TOO_MANY_REQUESTS:
        wait = headers.setdefault("Retry-After", headers.get("RateLimit-Reset", "60"))
        if wait.isdigit():  # the limiter's reset can be 0 in its last second: never say 0
            headers["Retry-After"] = str(max(1, int(wait)))
    return error_response(request, exc.status_code, headers)


def _server_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """Anything unexpected: a 500 page that never shows the exception or a traceback."""
    return error_response(request, HTTPStatus.INTERNAL_SERVER_ERROR)


DATABASE_RETRY_AFTER = "30"
"""Seconds a client is asked to wait when the database is locked or full."""


def _database_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """The database is locked by someone else for too long, or the disk is full: the write was
    rolled back, so say "busy, try again" (503 with Retry-After) instead of a 500."""
    if temporarily_unavailable(exc):
        return error_response(
            request, HTTPStatus.SERVICE_UNAVAILABLE, {"Retry-After": DATABASE_RETRY_AFTER}
        )
    return _server_error_handler(request, exc)


exception_handlers: ExceptionHandlersMap = {
    HTTPException: _http_exception_handler,
    sqlite3.OperationalError: _database_error_handler,
    DatabaseError: _database_error_handler,
    Exception: _server_error_handler,
}
"""For `Litestar(exception_handlers=...)`: keyed by class, so every status code is covered."""


async def log_exception(exc: Exception, scope: Scope) -> None:
    """An `after_exception` hook: Litestar's own exception logging is off with
    `logging_config=None`, so failures are logged here, to "usher.web", with user text cleaned.

    It runs before the error page is sent, so a failing log handler must not escape: that
    would turn every refusal into a bare 500 from the ASGI server."""
    try:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        method = scope.get("method", "")
        path = redact_path(clean_line(scope.get("path", "")))
        if temporarily_unavailable(exc):
            logger.warning("%s %s: database unavailable, answered 503: %s", method, path, exc)
            return
        if status >= 500:
            logger.error("%s %s failed", method, path, exc_info=exc)
            return
        try:
            who = client_ip(Request(scope), settings_from(scope["litestar_app"]))
        except Exception:
            who = "unknown"
        level = logging.WARNING if status == HTTPStatus.TOO_MANY_REQUESTS else logging.INFO
        logger.log(level, "%s %s from %s refused: %d", method, path, clean_line(who), status)
    except Exception:  # noqa: S110 - logging about a refusal must never block the refusal
        pass
