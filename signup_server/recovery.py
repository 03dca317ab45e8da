"""The check-email page and its way back: "Didn't get it? Send it again / use another address",
for the browser that signed up (its signup cookie). Rules live in
`store.onboarding.signup_recovery`."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from store.accounts.audit import web_actor
from store.domain.clock import now
from store.onboarding.signup import FormRefused
from store.onboarding.signup_recovery import change_signup_address, resend_confirmation

from .deps import SettingsDep, StoreDep
from .render import page
from .security import client_ip
from .signup_cookies import email_hint, email_hint_cookie, signup_proof

__all__ = ["RECOVERY_ROUTES"]


class AddressForm(msgspec.Struct, kw_only=True):
    email: str = ""


AddressBody = Annotated[AddressForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


def _minutes(again: str | None) -> int:
    return int(again) if again and again.isdigit() and len(again) <= 3 else 0


@get("/signup/check-email")
async def check_email_page(
    request: Request[Any, Any, Any],
    settings: SettingsDep,
    sent: FromQuery[str | None] = None,
    again: FromQuery[str | None] = None,
) -> Template:
    """Names the address, and offers a resend or another address to the signup browser."""
    return page(
        "signup_done.html",
        state="check-email",
        email=email_hint(request, settings),
        can_recover=bool(signup_proof(request, settings)),
        sent_again=bool(sent),
        again_minutes=_minutes(again),
    )


@post("/signup/resend", status_code=303)
async def resend(
    request: Request[Any, Any, Any], store: StoreDep, settings: SettingsDep
) -> Redirect:
    allowance = await resend_confirmation(
        store, signup_proof(request, settings), actor=web_actor(client_ip(request, settings))
    )
    if allowance.allowed and allowance.again_at is None:
        return Redirect("/signup/check-email?sent=1", status_code=303)
    again_at = allowance.again_at or now()
    minutes = max(1, int((again_at - now()).total_seconds() + 59) // 60)
    if not allowance.allowed:
        return Redirect(f"/signup/check-email?again={minutes}", status_code=303)
    return Redirect(f"/signup/check-email?sent=1&again={minutes}", status_code=303)


@get("/signup/change-address")
async def change_address_page(request: Request[Any, Any, Any], settings: SettingsDep) -> Template:
    return page("change_address.html", errors={}, email=email_hint(request, settings))


@post("/signup/change-address", status_code=303)
async def change_address_submit(
    request: Request[Any, Any, Any], data: AddressBody, store: StoreDep, settings: SettingsDep
) -> Template | Redirect:
    try:
        email = await change_signup_address(
            store,
            signup_proof(request, settings),
            data.email,
            actor=web_actor(client_ip(request, settings)),
        )
    except FormRefused as refused:
        return page("change_address.html", status_code=400, errors=refused.errors, email=data.email)
    return Redirect(
        "/signup/check-email", status_code=303, cookies=[email_hint_cookie(settings, email)]
    )


RECOVERY_ROUTES = [check_email_page, resend, change_address_page, change_address_submit]
