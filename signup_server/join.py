"""Signing up through an invite link (`/join/{token}`), confirming the address
(`/confirm/{token}`), and the pages that say what happens next (`/signup/...`).

Handlers only parse, call `store.signup`, and render: every rule lives in the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, TooManyRequestsException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Response, Template

from store import link_attempts
from store.audit import web_actor
from store.links import Link
from store.signup import (
    FormRefused,
    SignupForm,
    TokenUnusable,
    confirm_email,
    link_for_page,
    sign_up_by_link,
    usable_link,
    with_article,
)

from . import security
from .deps import SettingsDep, StoreDep
from .errors import Gone
from .render import cached_page, echoed, page
from .security import client_ip

__all__ = ["JOIN_ROUTES", "gone_for"]

SignupBody = Annotated[SignupForm, Body(media_type=RequestEncodingType.URL_ENCODED)]

DONE_PAGES = {
    "check-email",
    "pending",
    "ready",
    "confirmed",
    "confirmed-pending",
    "already-confirmed",
}
_OUTCOME_PAGE = {"check_email": "check-email", "pending": "pending", "active": "ready"}


def gone_for(error: TokenUnusable) -> Exception:
    """404 for a token that never existed, 410 for one that did: the same calm page."""
    return Gone() if error.known else NotFoundException()


def _domain_hint(link: Link) -> str | None:
    if not link.domains:
        return None
    words = [f"any address ending .{d[2:]}" if d.startswith("*.") else d for d in link.domains]
    return "Use an address at " + " or ".join(words) + "."


def _join_page(
    link: Link,
    token: FromPath[str],
    *,
    errors: dict[str, str] | None = None,
    values: SignupForm | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        "join.html",
        status_code=status_code,
        **_join_context(link, token),
        errors=errors or {},
        values=values or SignupForm(),
    )


def _join_context(link: Link, token: str) -> dict[str, Any]:
    """What the page shows of the link (everything but the form's errors and values)."""
    return {
        "token": token,
        "level_words": with_article(link.level),
        "needs_approval": not link.auto_accept,
        "confirm": link.confirm_email,
        "has_password": link.has_password,
        "domain_hint": _domain_hint(link),
    }


@get("/join/{token:str}")
async def join_page(
    request: Request[Any, Any, Any], token: FromPath[str], store: StoreDep
) -> Response[str]:
    """The signup form. Opening it takes no use: a use is taken when the account is made.

    The blank form is the same for everyone who opens the link but its CSRF token, so it is
    rendered once per link setting (`cached_page`), not on every visit."""
    try:
        link = await link_for_page(store, token)
    except TokenUnusable as error:
        raise gone_for(error) from None
    return cached_page(
        request, "join.html", **_join_context(link, token), errors={}, values=SignupForm()
    )


@post("/join/{token:str}", status_code=303)
async def join_submit(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    data: SignupBody,
    store: StoreDep,
    settings: SettingsDep,
) -> Template | Redirect:
    try:
        link = await usable_link(store, token)
    except TokenUnusable as error:
        raise gone_for(error) from None
    ip = client_ip(request, settings)
    browser = request.cookies.get(security.csrf_cookie_name(settings), "")
    guesser = link_attempts.Guesser(browser=browser, email=data.email, client=ip)
    try:
        outcome = await sign_up_by_link(
            store, token, data, actor=web_actor(ip), link=link, guesser=guesser
        )
    except TokenUnusable as error:
        raise gone_for(error) from None
    except link_attempts.LinkGuessesExhausted as exhausted:
        raise TooManyRequestsException(
            headers={"Retry-After": str(exhausted.retry_after())}
        ) from None
    except FormRefused as refused:
        return _join_page(link, token, errors=refused.errors, values=echoed(data), status_code=400)
    return Redirect(f"/signup/{_OUTCOME_PAGE[outcome.kind]}", status_code=303)


@get("/confirm/{token:str}")
async def confirm(
    request: Request[Any, Any, Any], token: FromPath[str], store: StoreDep, settings: SettingsDep
) -> Redirect:
    """The link in the confirmation email; redirects so the token leaves the address bar."""
    try:
        outcome = await confirm_email(store, token, actor=web_actor(client_ip(request, settings)))
    except TokenUnusable as error:
        raise gone_for(error) from None
    if outcome.already:
        return Redirect("/signup/already-confirmed", status_code=303)
    if outcome.set_password_token:  # whoever confirmed chooses the password (store.signup)
        return Redirect(f"/password/set/{outcome.set_password_token}?confirmed=1", status_code=303)
    target = "confirmed" if outcome.status == "active" else "confirmed-pending"
    return Redirect(f"/signup/{target}", status_code=303)


@get("/signup/{page_name:str}")
async def signup_done(page_name: FromPath[str]) -> Template:
    """What happens next: check your email, wait for approval, or sign in."""
    if page_name not in DONE_PAGES:
        raise NotFoundException()
    return page("signup_done.html", state=page_name)


JOIN_ROUTES = [join_page, join_submit, confirm, signup_done]
