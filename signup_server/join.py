"""Signing up through an invite link (`/join/{token}`), confirming the address
(`/confirm/{token}`), and the pages that say what happens next (`/signup/...`).

Handlers only parse, call `store.onboarding.signup`, and render: every rule lives in the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, TooManyRequestsException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Response, Template

from store.accounts.audit import web_actor
from store.onboarding import link_attempts
from store.onboarding.confirmation import confirm_link_state
from store.onboarding.links import Link
from store.onboarding.signup import (
    FormRefused,
    SignupForm,
    TokenUnusable,
    check_email_address,
    confirm_email,
    link_for_page,
    sign_up_by_link,
    usable_link,
)

from . import security
from .deps import SettingsDep, StoreDep, store_from
from .errors import Gone
from .language_switch import flow_cookie
from .render import cached_page, echoed, page, page_language, switched_language, written_for
from .security import client_ip
from .signup_cookies import email_hint_cookie, signup_cookie, signup_cookie_gone, signup_proof

__all__ = ["JOIN_ROUTES", "blank_join_page", "gone_for"]

SignupBody = Annotated[SignupForm, Body(media_type=RequestEncodingType.URL_ENCODED)]

DONE_PAGES = {
    "pending",
    "ready",
    "confirmed",
    "confirmed-pending",
    "already-confirmed",
    "closed",
}
_STATUS_PAGE = {"active": "already-confirmed", "pending": "confirmed-pending"}
"""What a used confirmation link says now, by the account's status (else "closed")."""
_OUTCOME_PAGE = {"check_email": "check-email", "pending": "pending", "active": "ready"}


def gone_for(error: TokenUnusable) -> Exception:
    """404 for a token that never existed, 410 for one that did: the same calm page."""
    return Gone() if error.known else NotFoundException()


def _join_page(
    link: Link,
    token: FromPath[str],
    *,
    errors: dict[str, str] | None = None,
    values: SignupForm | None = None,
    status_code: int = 200,
    link_password_kept: bool = False,
) -> Template:
    return page(
        "join.html",
        status_code=status_code,
        **_join_context(link, token),
        errors=errors or {},
        values=values or SignupForm(),
        link_password_kept=link_password_kept,
    )


def _join_context(link: Link, token: str) -> dict[str, Any]:
    """What the page shows of the link (everything but the form's errors and values)."""
    return {
        "token": token,
        "level": link.level,
        "needs_approval": not link.auto_accept,
        "confirm": link.confirm_email,
        "has_password": link.has_password,
        "domains": tuple(link.domains),
    }


def blank_join_page(request: Request[Any, Any, Any], link: Link, token: str) -> Response[str]:
    """The signup form as everyone who opens `link` first sees it. It is the same for all but
    its CSRF token, so it is rendered once per link setting and language (`cached_page`, keyed
    by what `_join_context` shows), then only the token is put in."""
    context = _join_context(link, token)
    return cached_page(
        request,
        "join.html",
        cache_key=tuple(context.values()),
        **context,
        errors={},
        values=SignupForm(),
    )


@get("/join/{token:str}")
async def join_page(request: Request[Any, Any, Any]) -> Response[str]:
    """The signup form. Opening it takes no use: a use is taken when the account is made.

    The most opened page of all, so it asks Litestar for nothing but the request: the token
    comes from the path and the store from the app (`store_from`), not as parameters Litestar
    would resolve and validate on every visit."""
    token: str = request.path_params["token"]
    try:
        link = await link_for_page(store_from(request.app), token)
    except TokenUnusable as error:
        raise gone_for(error) from None
    written_for(request, link.language)
    return blank_join_page(request, link, token)


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
    written_for(request, link.language)
    ip = client_ip(request, settings)
    browser = request.cookies.get(security.csrf_cookie_name(settings), "")
    guesser = link_attempts.Guesser(browser=browser, email=data.email, client=ip)
    try:
        outcome = await sign_up_by_link(
            store,
            token,
            data,
            actor=web_actor(ip),
            link=link,
            guesser=guesser,
            language=page_language(request, settings),
        )
    except TokenUnusable as error:
        raise gone_for(error) from None
    except link_attempts.LinkGuessesExhausted as exhausted:
        raise TooManyRequestsException(
            headers={"Retry-After": str(exhausted.retry_after())}
        ) from None
    except FormRefused as refused:
        kept = bool(data.link_password) and "link_password" not in refused.errors
        return _join_page(
            link,
            token,
            errors=refused.errors,
            values=echoed(data),
            status_code=400,
            link_password_kept=kept and link.has_password,
        )
    cookies = [flow_cookie(settings, link.language)]
    if outcome.browser_proof:
        cookies += [
            signup_cookie(settings, outcome.browser_proof),
            email_hint_cookie(settings, check_email_address(data.email)),
        ]
    return Redirect(f"/signup/{_OUTCOME_PAGE[outcome.kind]}", status_code=303, cookies=cookies)


def _state_page(status: str) -> str:
    return _STATUS_PAGE.get(status, "closed")


@get("/confirm/{token:str}")
async def confirm_page(
    request: Request[Any, Any, Any], token: FromPath[str], store: StoreDep
) -> Template:
    """The link in the confirmation email. Opening it changes nothing (mail scanners open every
    link): it shows a "Confirm my address" button, or what is true now if it was used. It is
    written in the account's language, which may be another browser's."""
    link = await confirm_link_state(store, token)
    if link is None:
        raise NotFoundException()
    written_for(request, link.language)
    if link.state == "expired":
        raise Gone()
    if link.state == "done":
        return page("signup_done.html", state=_state_page(link.status))
    return page("confirm.html", token=token, email=link.email)


@post("/confirm/{token:str}", status_code=303)
async def confirm_submit(
    request: Request[Any, Any, Any], token: FromPath[str], store: StoreDep, settings: SettingsDep
) -> Redirect:
    """The person's "Confirm my address". From the browser that signed up, the password typed
    there stays and sign-in comes next; from anywhere else, the confirmer chooses it."""
    try:
        outcome = await confirm_email(
            store,
            token,
            actor=web_actor(client_ip(request, settings)),
            browser_proof=signup_proof(request, settings),
            language=switched_language(request),
        )
    except TokenUnusable as error:
        raise gone_for(error) from None
    language = flow_cookie(settings, outcome.language)
    if outcome.already:
        return Redirect(
            f"/signup/{_state_page(outcome.status)}", status_code=303, cookies=[language]
        )
    gone = signup_cookie_gone(settings)
    # whoever confirmed chooses the password (store.onboarding.signup)
    if outcome.set_password_token:
        return Redirect(
            f"/password/set/{outcome.set_password_token}?confirmed=1",
            status_code=303,
            cookies=[gone, language],
        )
    if outcome.status != "active":
        return Redirect("/signup/confirmed-pending", status_code=303, cookies=[gone, language])
    return Redirect(
        "/login?notice=confirmed",
        status_code=303,
        cookies=[gone, language, email_hint_cookie(settings, outcome.email)],
    )


@get("/signup/{page_name:str}")
async def signup_done(page_name: FromPath[str]) -> Template:
    """What happens next: check your email, wait for approval, or sign in."""
    if page_name not in DONE_PAGES:
        raise NotFoundException()
    return page("signup_done.html", state=page_name)


JOIN_ROUTES = [join_page, join_submit, confirm_page, confirm_submit, signup_done]
