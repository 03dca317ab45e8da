"""The security layer every signup page inherits: CSRF, response headers, the POST rate limit and
the client address they key on.

It is installed once by `create_app`, so a later route handler gets all of it by existing; none
of it is configured per route.
"""

from __future__ import annotations

from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection, Request
from litestar.datastructures import MutableScopeHeaders
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from store import Settings
from store.proxies import client_address
from store.throttle import client_key

__all__ = [
    "CSP",
    "CSRF_FIELD",
    "PERMISSIONS_POLICY",
    "RATE_LIMIT_STORE",
    "client_ip",
    "csrf_config",
    "csrf_cookie_name",
    "rate_limit_config",
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

RATE_LIMIT_STORE = "rate_limit"
"""Name of the per-process memory store that holds the POST counters."""

_CSRF_EXCLUDE = [r"^/healthz$", r"^/static/"]
_HSTS = "max-age=31536000"

# --- client address ------------------------------------------------------------------------------


def client_ip(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> str:
    """The address of the person at the other end, for rate limits and the audit log.

    `X-Forwarded-For` counts only from `settings.trusted_proxies`; `store.proxies` decides."""
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


async def _is_post(request: Request[Any, Any, Any]) -> bool:
    """Only POSTs cost anything (sign-ups, sign-ins, hashing); pages are never limited.

    Async on purpose: Litestar runs a sync throttle check in a worker thread."""
    return request.method == "POST"


def rate_limit_config(settings: Settings) -> RateLimitConfig:
    """`settings.rate_limit` POSTs per client per minute (an IPv6 client: per /64, see
    `store.throttle.client_key`). The middleware sits outside the CSRF check, so refused
    forgeries count too."""

    def identify(request: Request[Any, Any, Any]) -> str:
        return client_key(client_ip(request, settings))

    return RateLimitConfig(
        rate_limit=("minute", settings.rate_limit),
        identifier_for_request=identify,
        check_throttle_handler=_is_post,
        store=RATE_LIMIT_STORE,
        set_rate_limit_headers=True,
    )


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
