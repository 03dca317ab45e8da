"""Help texts say the lifetimes the store uses (issue 18): they read the store's constants, so
a changed lifetime can never leave the console promising another one."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from console.screens.add_user import AddUserScreen
from console.screens.bulk import BulkScreen
from console.screens.invite import InviteScreen
from console.screens.links import LinksScreen
from signup_server.render import template_config
from store import Settings
from store.domain.clock import lifetime_words
from store.domain.languages import translations
from store.domain.tokens import ONE_TIME_CREDENTIAL_VALID, SET_PASSWORD_VALID
from store.onboarding.invitations import INVITATION_VALID
from store.onboarding.signup import CONFIRM_VALID, UNCONFIRMED_VALID


def test_lifetimes_read_in_words_as_people_say_them() -> None:
    assert lifetime_words(timedelta(hours=72)) == "72 hours"
    assert lifetime_words(timedelta(hours=24)) == "24 hours"
    assert lifetime_words(timedelta(hours=1)) == "1 hour"
    assert lifetime_words(timedelta(days=7)) == "7 days"
    assert lifetime_words(timedelta(days=14)) == "14 days"
    assert lifetime_words(timedelta(hours=36)) == "36 hours"


def test_each_help_text_names_the_store_lifetime() -> None:
    for help_text, span in [
        (AddUserScreen.HELP, SET_PASSWORD_VALID),
        (AddUserScreen.HELP, ONE_TIME_CREDENTIAL_VALID),
        (BulkScreen.HELP, ONE_TIME_CREDENTIAL_VALID),
        (InviteScreen.HELP, INVITATION_VALID),
        (LinksScreen.HELP, UNCONFIRMED_VALID),
    ]:
        assert lifetime_words(span) in help_text, (help_text[:60], span)


async def test_pages_say_the_store_lifetimes(settings: Settings) -> None:
    """The signup pages' prose takes the hours from the store's constants (Jinja globals), in
    every language's catalogue: the same number as the emails' links really last."""
    config = template_config(settings)
    confirm = int(CONFIRM_VALID.total_seconds() // 3600)
    reset = int(SET_PASSWORD_VALID.total_seconds() // 3600)
    assert config.engine_instance.engine.globals["confirm_hours"] == confirm
    assert config.engine_instance.engine.globals["set_password_hours"] == reset
    engine = config.engine_instance.engine
    base: dict[str, Any] = {"errors": {}, "values": {}, "csrf_input": "", "token": "T"}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("signup_done.html", {"state": "check-email", "email": "ann@x.org"}, f"{confirm} hours"),
        ("signup_done.html", {"state": "check-email", "email": ""}, f"{confirm} hours"),
        ("forgot.html", {"sent": True}, f"works once, for {reset} hours"),
        (
            "account.html",
            {"user": SimpleNamespace(status="unconfirmed", name="", email="a@x.org")},
            f"It works for {confirm} hours",
        ),
    ]
    for name, context, words in cases:
        page = " ".join(engine.get_template(name).render(**base, **context).split())
        assert words in page, (name, context)
    for code in ("fr", "de", "es", "ar"):
        catalogue = translations(code)
        for message in (
            "If an account uses that address, we've sent it a link to choose a new password. "
            "The link works once, for %(set_password_hours)s hours.",
            "Confirm your email address first: open the link in the email we sent you. "
            "It works for %(confirm_hours)s hours.",
        ):
            translated = catalogue.gettext(message)
            assert translated != message and "%(" in translated, (code, message)
