"""A person's own account: sign in and out, see its state, change the password, and reset a
forgotten one by email. Only active accounts get past `/account`."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from store.accounts.audit import web_actor
from store.accounts.auth import (
    PasswordChange,
    SignInFailed,
    SignInUnconfirmed,
    change_password,
    request_password_reset,
    set_password_account,
    set_password_by_token,
    sign_in,
    sign_out,
)
from store.domain.clock import now
from store.domain.languages import N_
from store.onboarding.signup import FormRefused, Throttled, TokenUnusable

from .deps import SettingsDep, StoreDep
from .join import gone_for
from .render import page, written_for
from .security import client_ip
from .sessions import clear_cookie, current_user, session_cookie, session_token
from .signup_cookies import email_hint, email_hint_cookie, signup_cookie

__all__ = ["ACCOUNT_ROUTES"]


class LoginForm(msgspec.Struct, kw_only=True):
    email: str = ""
    password: str = ""


class EmailForm(msgspec.Struct, kw_only=True):
    email: str = ""


class NewPasswordForm(msgspec.Struct, kw_only=True):
    password: str = ""
    password_confirm: str = ""


LoginBody = Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
EmailBody = Annotated[EmailForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
NewPasswordBody = Annotated[NewPasswordForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
ChangeBody = Annotated[PasswordChange, Body(media_type=RequestEncodingType.URL_ENCODED)]

LOGIN_NOTICES = {
    "signed-out": N_("You have signed out."),
    "password-set": N_("Your password is set. Sign in with it now."),
    "confirmed": N_("Your email address is confirmed. Sign in with the password you chose."),
}
UNCONFIRMED = (
    "This address is not confirmed yet: open the link in the email we sent to it, then sign in"
)
UNCONFIRMED_SENT = (
    "This address is not confirmed yet: we've sent a new confirmation link to it. Open it in "
    "this browser and you'll sign in with this password"
)


def _throttled_words(throttled: Throttled) -> str:
    """The same sentence for any address, with the real wait (store.accounts.throttle)."""
    wait = throttled.wait_words()
    if not wait:
        return (
            "Too many failed sign-ins for this address: choose a new password with "
            "“Forgotten your password?” to sign in again"
        )
    return (
        f"Too many failed sign-ins for this address: try again in {wait}, "
        "or choose a new password with “Forgotten your password?”"
    )


def _actor(request: Request[Any, Any, Any], settings: SettingsDep) -> str:
    return web_actor(client_ip(request, settings))


# --- sign in and out ---------------------------------------------------------------------------


@get("/login")
async def login_page(
    request: Request[Any, Any, Any], settings: SettingsDep, notice: FromQuery[str | None] = None
) -> Template:
    """Opens with the address filled in right after confirming or setting a password."""
    return page(
        "login.html",
        errors={},
        email=email_hint(request, settings),
        notice=LOGIN_NOTICES.get(notice or ""),
    )


@post("/login", status_code=303)
async def login_submit(
    request: Request[Any, Any, Any], data: LoginBody, store: StoreDep, settings: SettingsDep
) -> Template | Redirect:
    errors = {
        field: message
        for field, message, missing in (
            ("email", "Enter your email address", not data.email.strip()),
            ("password", "Enter your password", not data.password),
        )
        if missing
    }
    if not errors:
        try:
            session = await sign_in(
                store, data.email, data.password, actor=_actor(request, settings)
            )
        except Throttled as throttled:
            return Template(
                template_name="login.html",
                context={
                    "errors": {"email": _throttled_words(throttled)},
                    "email": data.email,
                    "notice": None,
                },
                status_code=429,
                media_type=MediaType.HTML,
                headers={"Retry-After": str(throttled.retry_after_seconds(now()))},
            )
        except SignInUnconfirmed as unconfirmed:
            errors["email"] = UNCONFIRMED_SENT if unconfirmed.sent else UNCONFIRMED
            return Template(
                template_name="login.html",
                context={"errors": errors, "email": data.email, "notice": None},
                status_code=400,
                media_type=MediaType.HTML,
                cookies=[signup_cookie(settings, unconfirmed.browser_proof)],
            )
        except SignInFailed:
            errors["email"] = "The email address or password is not right"
        else:
            await sign_out(store, session_token(request, settings))  # no session fixation
            user = session.user
            target = "/account/password" if user.must_change_now else "/account"
            return Redirect(target, status_code=303, cookies=[session_cookie(settings, session)])
    return page("login.html", status_code=400, errors=errors, email=data.email, notice=None)


@post("/logout", status_code=303)
async def logout(
    request: Request[Any, Any, Any], store: StoreDep, settings: SettingsDep
) -> Redirect:
    await sign_out(store, session_token(request, settings))
    return Redirect("/login?notice=signed-out", status_code=303, cookies=[clear_cookie(settings)])


# --- the account -------------------------------------------------------------------------------


@get("/account")
async def account(
    request: Request[Any, Any, Any],
    store: StoreDep,
    settings: SettingsDep,
    notice: FromQuery[str | None] = None,
) -> Template | Redirect:
    """The account's state; pending, rejected, disabled and unconfirmed accounts see only that."""
    _, user = await current_user(request, store, settings)
    if user is None:
        return Redirect("/login", status_code=303)
    if user.must_change_now:
        return Redirect("/account/password", status_code=303)
    changed = notice == "password-changed"
    return page("account.html", user=user, password_changed=changed)


@get("/account/password")
async def password_page(
    request: Request[Any, Any, Any], store: StoreDep, settings: SettingsDep
) -> Template | Redirect:
    _, user = await current_user(request, store, settings)
    if user is None:
        return Redirect("/login", status_code=303)
    if not user.may_change_password:
        return Redirect("/account", status_code=303)
    return page(
        "account_password.html",
        errors={},
        must_change=user.must_change_password,
        email=user.email,
    )


@post("/account/password", status_code=303)
async def password_submit(
    request: Request[Any, Any, Any], data: ChangeBody, store: StoreDep, settings: SettingsDep
) -> Template | Redirect:
    token, user = await current_user(request, store, settings)
    if user is None:
        return Redirect("/login", status_code=303)
    if not user.may_change_password:
        return Redirect("/account", status_code=303)
    try:
        session = await change_password(
            store, user.id, data, session_token=token, actor=_actor(request, settings)
        )
    except FormRefused as refused:
        return page(
            "account_password.html",
            status_code=400,
            errors=refused.errors,
            must_change=user.must_change_password,
            email=user.email,
        )
    # Every earlier session ended, this browser's too: it carries on with a fresh one.
    return Redirect(
        "/account?notice=password-changed",
        status_code=303,
        cookies=[session_cookie(settings, session)],
    )


# --- forgotten passwords -----------------------------------------------------------------------


@get("/password/forgot")
async def forgot_page(
    sent: FromQuery[str | None] = None, again: FromQuery[str | None] = None
) -> Template:
    """`again`: minutes until the address may ask again (store.messaging.mail_limits), for the
    page."""
    wait = int(again) if again and again.isdigit() and len(again) <= 3 else 0
    return page("forgot.html", errors={}, email="", sent=bool(sent), again_minutes=wait)


@post("/password/forgot", status_code=303)
async def forgot_submit(
    request: Request[Any, Any, Any], data: EmailBody, store: StoreDep, settings: SettingsDep
) -> Template | Redirect:
    """The same answer whether or not the address has an account."""
    if not data.email.strip():
        errors = {"email": "Enter your email address"}
        return page("forgot.html", status_code=400, errors=errors, email="", sent=False)
    allowance = await request_password_reset(store, data.email, actor=_actor(request, settings))
    if allowance.again_at is None:
        return Redirect("/password/forgot?sent=1", status_code=303)
    minutes = max(1, int((allowance.again_at - now()).total_seconds() + 59) // 60)
    return Redirect(f"/password/forgot?sent=1&again={minutes}", status_code=303)


@get("/password/set/{token:str}")
async def set_password_page(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    store: StoreDep,
    confirmed: FromQuery[str | None] = None,
) -> Template:
    """`confirmed`: the person has just confirmed their address and chooses the password now.
    Written in the account's language (the link may be opened in any browser)."""
    try:
        user = await set_password_account(store, token)
    except TokenUnusable as error:
        raise gone_for(error) from None
    written_for(request, user.language)
    return page(
        "set_password.html", errors={}, token=token, email=user.email, confirmed=bool(confirmed)
    )


@post("/password/set/{token:str}", status_code=303)
async def set_password_submit(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    data: NewPasswordBody,
    store: StoreDep,
    settings: SettingsDep,
) -> Template | Redirect:
    try:
        user = await set_password_by_token(
            store, token, data.password, data.password_confirm, actor=_actor(request, settings)
        )
    except TokenUnusable as error:
        raise gone_for(error) from None
    except FormRefused as refused:
        user = await set_password_account(store, token)
        written_for(request, user.language)
        return page(
            "set_password.html",
            status_code=400,
            errors=refused.errors,
            token=token,
            email=user.email,
        )
    if user.status == "pending":  # confirmed just now, and waits for approval
        return Redirect("/signup/confirmed-pending", status_code=303)
    return Redirect(
        "/login?notice=password-set",
        status_code=303,
        cookies=[email_hint_cookie(settings, user.email)],
    )


ACCOUNT_ROUTES = [
    login_page,
    login_submit,
    logout,
    account,
    password_page,
    password_submit,
    forgot_page,
    forgot_submit,
    set_password_page,
    set_password_submit,
]
