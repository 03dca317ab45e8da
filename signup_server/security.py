"""The security layer every signup page inherits: CSRF, response headers, the POST rate limit and
the client address they key on.

It is installed once by `create_app`, so a later route handler gets all of it by existing; none
of it is configured per route.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection, Request
from litestar.datastructures import MutableScopeHeaders
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from store import Settings
from store.throttle import client_key

__all__ = [
    "CSP",
    "CSRF_FIELD",
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

RATE_LIMIT_STORE = "rate_limit"
"""Name of the per-process memory store that holds the POST counters."""

_CSRF_EXCLUDE = [r"^/healthz$", r"^/static/"]
_HSTS = "max-age=31536000"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- client address ------------------------------------------------------------------------------


def client_ip(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> str:
    """The address of the person at the other end, for rate limits and the audit log.

    `X-Forwarded-For` is believed only when the direct peer is one of `settings.trusted_proxies`
    (an address or a network such as 10.0.0.0/8); otherwise anyone could pick their own key and
    escape the limit. The header is read from the right, skipping trusted hops: the first
    untrusted entry was written by a proxy we trust, so it is the real client.
    """
    peer = connection.client.host if connection.client else ""
    if not peer:
        return "unknown"
    if not _is_trusted(peer, settings.trusted_proxies):
        return peer
    hops = [
        hop.strip()
        for value in connection.headers.getall("x-forwarded-for", [])
        for hop in value.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        address = _parse_address(hop)
        if address is None:
            return peer  # a hop we cannot read: believe nothing further left
        if not _is_trusted(str(address), settings.trusted_proxies):
            return str(address)
    first = _parse_address(hops[0]) if hops else None
    return str(first) if first is not None else peer


def _parse_address(text: str) -> IPAddress | None:
    """An address from one forwarded hop; accepts `1.2.3.4`, `1.2.3.4:567`, `[::1]`, `[::1]:567`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    """Split the configured proxies into networks and literal names (e.g. a test client's)."""
    networks: list[IPNetwork] = []
    names: set[str] = set()
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            names.add(entry.strip())
    return tuple(networks), frozenset(names)


def _is_trusted(peer: str, proxies: Iterable[str]) -> bool:
    networks, names = _trusted_networks(tuple(proxies))
    if peer in names:
        return True
    address = _parse_address(peer)
    return address is not None and any(address in network for network in networks)


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
    }
    if settings.is_https:
        fixed["strict-transport-security"] = _HSTS

    async def add_security_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in fixed.items():
            headers[name] = value
        content_type = headers.get("content-type") or ""
        if content_type.startswith("text/html") or "cache-control" not in headers:
            # Pages can carry a CSRF token or someone's details: never keep them in a cache.
            headers["cache-control"] = "no-store"

    return add_security_headers
