"""The security layer every signup page inherits: CSRF, response headers, the POST rate limit and
the client address they key on.

It is installed once by `create_app`, so a later route handler gets all of it by existing; none
of it is configured per route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.types import ASGIApp, BeforeMessageSendHookHandler, Message, Receive, Scope, Send

from store import Settings, Store
from store.accounts.throttle import client_key
from store.service.proxies import client_address
from store.service.request_limits import admit

__all__ = [
    "CSP",
    "CSRF_FIELD",
    "PERMISSIONS_POLICY",
    "client_ip",
    "csrf_config",
    "csrf_cookie_name",
    "post_limit",
    "security_headers_hook",
]

CSRF_FIELD = "_csrf_token"
"""The form field Litestar's CSRF middleware reads. It is hard-coded in the middleware (there is
no `CSRFConfig` option for it); `{{ csrf_input | safe }}` renders a hidden input with this name."""

CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
"""No inline script or style anywhere: the only stylesheet is /static/usher.css."""

PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)
"""The signup pages need none of the browser's powerful features: none may be asked for."""

_CSRF_EXCLUDE = [r"^/healthz$", r"^/static/"]
_HSTS = "max-age=31536000"

# --- client address ------------------------------------------------------------------------------


def client_ip(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> str:
    """The address of the person at the other end, for rate limits and the audit log.

    `X-Forwarded-For` counts only from `settings.trusted_proxies`; `store.service.proxies`
    decides."""
    peer = connection.client.host if connection.client else ""
    return client_address(
        peer, connection.headers.getall("x-forwarded-for", []), settings.trusted_proxies
    )


# --- CSRF ----------------------------------------------------------------------------------------


def csrf_cookie_name(settings: Settings) -> str:
    """`__Host-` pins the cookie to our exact origin (no subdomain can plant one), but browsers
    accept that prefix only on Secure cookies, so plain-http installs use a plain name."""
    return "__Host-usher_csrf" if settings.is_https else "usher_csrf"


def csrf_config(settings: Settings, secret_key: str) -> CSRFConfig:
    """Double-submit CSRF with an HMAC-signed token; cookie settings spelled out, not defaulted."""
    return CSRFConfig(
        secret=secret_key,
        cookie_name=csrf_cookie_name(settings),
        cookie_path="/",
        cookie_secure=settings.is_https,
        cookie_httponly=True,
        cookie_samesite="lax",
        exclude=list(_CSRF_EXCLUDE),
    )


# --- rate limit ----------------------------------------------------------------------------------


def post_limit(store: Store, settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """`settings.rate_limit` POSTs per client per minute (an IPv6 client: per /64, see
    `store.accounts.throttle.client_key`), counted in the database (`store.service.request_limits`),
    so every process serving it shares one count. Only POSTs cost anything (sign-ups, sign-ins,
    hashing); pages are never limited. It sits outside the CSRF check, so refused forgeries
    count too; a refusal is a 429 whose Retry-After is the honest wait."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP and scope["method"] == "POST":
                client = client_key(client_ip(ASGIConnection(scope), settings))
                wait = await admit(store.engine, "post", client, settings.rate_limit)
                if wait:
                    raise TooManyRequestsException(headers={"Retry-After": str(wait)})
            await app(scope, receive, send)

        return limited

    return middleware


# --- response headers ----------------------------------------------------------------------------


def security_headers_hook(settings: Settings) -> BeforeMessageSendHookHandler:
    """A `before_send` hook adding the security headers to every response.

    `before_send` wraps the outermost `send`, so it also sees the error pages that Litestar's
    exception middleware writes (404 for unknown routes, 413, 429, CSRF 403) and static files -
    a route-level middleware would miss the unknown-route 404s.
    """
    fixed = {
        "content-security-policy": CSP,
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "permissions-policy": PERMISSIONS_POLICY,
    }
    if settings.is_https:
        fixed["strict-transport-security"] = _HSTS
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in fixed.items()]
    raw.append((b"cache-control", b"no-store"))  # what a response without its own gets
    names = frozenset(name for name, _ in raw)

    async def add_security_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        present = {name.lower(): value for name, value in message["headers"]}
        if names.isdisjoint(present) and isinstance(message["headers"], list):
            # The usual case, the same headers in one pass: none is set yet, so each is
            # appended (`MutableScopeHeaders` searches the whole list for every one it sets).
            message["headers"].extend(raw)
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in fixed.items():
            headers[name] = value
        if present.get(b"content-type", b"").startswith(b"text/html") or (
            b"cache-control" not in present
        ):
            # Pages can carry a CSRF token or someone's details: never keep them in a cache.
            headers["cache-control"] = "no-store"

    return add_security_headers
