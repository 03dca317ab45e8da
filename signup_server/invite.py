"""Accepting an email invitation: `GET|POST /invite/{token}` and the pages that follow.

Handlers only parse, call `store.onboarding.invitations`, and render; every rule lives in the store.
The address is the one the invitation was sent to: shown, fixed, and never read from the form.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from store.accounts.audit import web_actor
from store.onboarding.invitations import (
    AcceptForm,
    AcceptRefused,
    AccountExists,
    Invitation,
    InvitationUnusable,
    accept_invitation,
    has_account,
    invitation_for_token,
    suggested_names,
)

from .deps import SettingsDep, StoreDep
from .language_switch import flow_cookie
from .render import echoed, page, page_language, written_for
from .security import client_ip

__all__ = ["INVITE_ROUTES"]

AcceptBody = Annotated[AcceptForm, Body(media_type=RequestEncodingType.URL_ENCODED)]

ACCEPTED_PAGE = "/invitation/accepted"
SIGN_IN_PAGE = "/invitation/sign-in"
_DONE_OUTCOMES = {"accepted", "sign-in"}


def _form_page(
    invitation: Invitation,
    token: str,
    *,
    values: AcceptForm,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        "invite.html",
        status_code=status_code,
        token=token,
        email=invitation.email,
        level=invitation.level,
        message=invitation.message,
        expires_at=invitation.expires_at,
        values=values,
        errors=errors or {},
    )


def _gone_page(error: InvitationUnusable) -> Template:
    """One calm page per reason, saying what happened and whom to ask. 404 for a token that was
    never issued, 410 for one that was used, expired or withdrawn."""
    status = 404 if error.reason == "unknown" else 410
    return page("invite_gone.html", status_code=status, reason=error.reason, inviter=error.inviter)


@get("/invite/{token:str}")
async def invite_page(
    request: Request[Any, Any, Any], token: FromPath[str], store: StoreDep, settings: SettingsDep
) -> Template | Redirect:
    """The acceptance form, with the name from the pasted list filled in as a suggestion, in
    the invitation's language unless the invitee switched."""
    try:
        invitation = await invitation_for_token(store, token)
    except InvitationUnusable as error:
        return _gone_page(error)
    written_for(request, invitation.language)
    if await has_account(store, invitation.email):
        return Redirect(
            SIGN_IN_PAGE, status_code=303, cookies=[flow_cookie(settings, invitation.language)]
        )
    first, last = suggested_names(invitation)
    return _form_page(invitation, token, values=AcceptForm(first_name=first, last_name=last))


@post("/invite/{token:str}", status_code=303)
async def invite_submit(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    data: AcceptBody,
    store: StoreDep,
    settings: SettingsDep,
) -> Template | Redirect:
    actor = web_actor(client_ip(request, settings))
    try:
        invitation = await invitation_for_token(store, token)
        written_for(request, invitation.language)
        language = flow_cookie(settings, invitation.language)
        await accept_invitation(
            store, token, data, actor=actor, language=page_language(request, settings)
        )
    except InvitationUnusable as error:
        return _gone_page(error)
    except AccountExists:
        return Redirect(SIGN_IN_PAGE, status_code=303, cookies=[language])
    except AcceptRefused as refused:
        try:
            invitation = await invitation_for_token(store, token)
        except InvitationUnusable as error:
            return _gone_page(error)
        return _form_page(
            invitation, token, values=echoed(data), errors=refused.errors, status_code=400
        )
    return Redirect(ACCEPTED_PAGE, status_code=303, cookies=[language])


@get("/invitation/{outcome:str}")
async def invitation_done(outcome: FromPath[str]) -> Template:
    """After acceptance: the account is ready (sign in); or the address had an account already."""
    if outcome not in _DONE_OUTCOMES:
        raise NotFoundException()
    return page("invite_done.html", outcome=outcome)


INVITE_ROUTES = [invite_page, invite_submit, invitation_done]
