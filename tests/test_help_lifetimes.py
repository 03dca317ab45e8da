"""Help texts say the lifetimes the store uses (issue 18): they read the store's constants, so
a changed lifetime can never leave the console promising another one."""

from __future__ import annotations

from datetime import timedelta

from console.screens.add_user import AddUserScreen
from console.screens.bulk import BulkScreen
from console.screens.invite import InviteScreen
from console.screens.links import LinksScreen
from store.clock import lifetime_words
from store.invitations import INVITATION_VALID
from store.signup import UNCONFIRMED_VALID
from store.tokens import ONE_TIME_CREDENTIAL_VALID, SET_PASSWORD_VALID


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
