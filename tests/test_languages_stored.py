"""The language an admin sets (on a link, an invitation batch, new accounts) and the one each
person is stored with (issue 22): the pages of a link's flow are written in the link's language
whatever the browser prefers, unless the invitee switches; and every later email to a person
(confirmation, welcome, approval, rejection, reset, set-password) is written in theirs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from signup_server import create_app
from store import Settings, Store
from store.accounts.auth import request_password_reset
from store.accounts.users import get_user, send_set_password_link
from store.messaging.emails.render import render
from store.onboarding.approvals import approve, reject
from store.onboarding.bulk import BulkError, BulkOptions, create_batch, preview
from store.onboarding.email_lists import parse_email_list
from store.onboarding.invitations import (
    AcceptForm,
    InvitationError,
    accept_invitation,
    send_invitations,
)
from store.onboarding.links import LinkError
from store.onboarding.signup import sign_up_by_link
from store.onboarding.single_user import NewUserForm, Refused, UserAdded, add_user

from .fixtures_security import csrf_from
from .helpers import GOOD_PASSWORD, cheap_hasher, form, make_link, outbox_rows, token_in

Client = AsyncTestClient[Litestar]
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9"}
LANG = re.compile(r'<html lang="([^"]+)"')


def lang_of(html: str) -> str:
    found = LANG.search(html)
    assert found, "no <html lang>"
    return found.group(1)


async def mail_languages(store: Store, kind: str | None = None) -> list[str]:
    """The language each queued email (of `kind`) renders in, as delivery renders it."""
    languages = []
    for row in await outbox_rows(store, kind):
        mail = render(row["kind"], row["values"], store.settings, recipient=row["recipient"])
        languages.append(lang_of(mail.html))
    return languages


async def stored_language(store: Store, email: str) -> str | None:
    value = await store.engine.scalar("SELECT language FROM users WHERE email = ?", (email,))
    return None if value is None else str(value)


async def join(
    client: Client, token: str, email: str, *, headers: dict[str, str], lang: str = ""
) -> tuple[httpx.Response, httpx.Response]:
    """Open the join page (switched to `lang` if given) and sign up: (the page, the outcome)."""
    path = f"/join/{token}" + (f"?lang={lang}" if lang else "")
    page = await client.get(path, headers=headers)
    fields = {"email": email, "first_name": "Léa", "password": GOOD_PASSWORD}
    done = await client.post(
        f"/join/{token}",
        data={"_csrf_token": csrf_from(page.text), **fields},
        headers=headers,
        follow_redirects=True,
    )
    return page, done


# --- a link's language through its whole flow ---------------------------------------------------


async def test_a_german_link_speaks_german_to_a_french_browser_and_so_do_its_emails(
    client: Client, fast_store: Store
) -> None:
    link = await make_link(fast_store, language="de", auto_accept=False, confirm_email=True)
    assert link.language == "de"
    page, done = await join(client, link.token, "lea@example.org", headers=FRENCH)
    assert lang_of(page.text) == "de" and "Mein Konto anlegen" in page.text
    assert str(done.url).endswith("/signup/check-email")
    assert lang_of(done.text) == "de"  # the page after the POST shows no link: the flow cookie
    assert await stored_language(fast_store, "lea@example.org") == "de"
    assert await mail_languages(fast_store) == ["de"]

    [confirmation] = await outbox_rows(fast_store, "confirm_email")
    token = token_in(confirmation["values"]["confirm_url"], "confirm")
    async with AsyncTestClient(client.app) as elsewhere:  # the mail client: no cookie at all
        opened = await elsewhere.get(f"/confirm/{token}", headers=FRENCH)
        assert opened.status_code == 200 and lang_of(opened.text) == "de"
        confirmed = await elsewhere.post(
            f"/confirm/{token}",
            data={"_csrf_token": csrf_from(opened.text)},
            headers=FRENCH,
            follow_redirects=True,
        )
        assert confirmed.status_code == 200 and lang_of(confirmed.text) == "de"  # set password
    user_id = int(await fast_store.engine.scalar("SELECT id FROM users") or 0)
    await approve(fast_store, [user_id], actor="tester")
    assert await mail_languages(fast_store, "approved") == ["de"]
    await request_password_reset(fast_store, "lea@example.org", actor="tester")
    assert set(await mail_languages(fast_store, "set_password")) == {"de"}


async def test_the_invitees_switch_wins_over_the_links_language(
    client: Client, fast_store: Store
) -> None:
    link = await make_link(fast_store, language="de", confirm_email=False)
    page, done = await join(client, link.token, "ana@example.org", headers=FRENCH, lang="es")
    assert lang_of(page.text) == "es" and lang_of(done.text) == "es"
    assert await stored_language(fast_store, "ana@example.org") == "es"
    assert await mail_languages(fast_store) == ["es"]  # the welcome


async def test_a_link_without_a_language_follows_the_browser_and_stores_what_was_read(
    client: Client, fast_store: Store
) -> None:
    german = await make_link(fast_store, language="de", confirm_email=False)
    plain = await make_link(fast_store, confirm_email=False)
    await join(client, german.token, "jan@example.org", headers=FRENCH)  # leaves its cookie
    page, done = await join(client, plain.token, "lou@example.org", headers=FRENCH)
    assert lang_of(page.text) == "fr" and lang_of(done.text) == "fr"  # no German left over
    assert await stored_language(fast_store, "lou@example.org") == "fr"


async def test_a_link_password_refusal_is_shown_again_in_the_links_language(
    client: Client, fast_store: Store
) -> None:
    link = await make_link(fast_store, language="ar", password="open sesame")
    page = await client.get(f"/join/{link.token}", headers=FRENCH)
    refused = await client.post(
        f"/join/{link.token}",
        data={"_csrf_token": csrf_from(page.text), "email": "x@example.org", "first_name": "X"},
        headers=FRENCH,
    )
    assert refused.status_code == 400
    assert '<html lang="ar" dir="rtl">' in refused.text


# --- USHER_LANGUAGE, now below the admin's choice and above the browser -----------------------


@pytest.fixture
async def spanish_default(settings: Settings) -> AsyncIterator[tuple[Store, Client]]:
    spanish = msgspec.structs.replace(settings, language="es")
    store = await Store.open(spanish, hasher=cheap_hasher())
    app = create_app(store, spanish, secret_key=await store.secret_key())
    try:
        async with AsyncTestClient(app) as client:
            yield store, client
    finally:
        await store.close()


async def test_usher_language_beats_the_browser_but_not_the_admin(
    spanish_default: tuple[Store, Client],
) -> None:
    store, client = spanish_default
    plain = await make_link(store)
    german = await make_link(store, language="de")
    assert lang_of((await client.get(f"/join/{plain.token}", headers=FRENCH)).text) == "es"
    assert lang_of((await client.get(f"/join/{german.token}", headers=FRENCH)).text) == "de"
    outcome = await add_user(store, NewUserForm(first_name="Old", email="old@x.org"), actor="t")
    assert isinstance(outcome, UserAdded) and outcome.user.language is None
    assert await mail_languages(store) == ["es"]  # no language of their own: USHER_LANGUAGE


# --- invitations -------------------------------------------------------------------------------


async def test_an_invitation_batchs_language_reaches_its_email_page_and_account(
    client: Client, fast_store: Store
) -> None:
    parsed = parse_email_list("Eva Roth <eva@example.org>")
    sent = await send_invitations(
        fast_store, parsed.entries, level="member", actor="tester", language="de"
    )
    assert sent.sent == 1
    [row] = await outbox_rows(fast_store, "invitation")
    assert await mail_languages(fast_store, "invitation") == ["de"]
    token = token_in(row["values"]["accept_url"], "invite")
    page = await client.get(f"/invite/{token}", headers=FRENCH)
    assert lang_of(page.text) == "de"
    user = await accept_invitation(
        fast_store,
        token,
        AcceptForm(first_name="Eva", last_name="Roth", password=GOOD_PASSWORD),
        actor="web",
        language=None,  # the page did not say: the invitation's own
    )
    assert user.language == "de"
    await send_set_password_link(fast_store, user.id, actor="tester")
    assert await mail_languages(fast_store, "set_password") == ["de"]


async def test_accepting_through_the_page_stores_its_language(
    client: Client, fast_store: Store
) -> None:
    parsed = parse_email_list("ida@example.org")
    await send_invitations(fast_store, parsed.entries, level="viewer", actor="t", language="fr")
    [row] = await outbox_rows(fast_store, "invitation")
    token = token_in(row["values"]["accept_url"], "invite")
    page = await client.get(f"/invite/{token}?lang=es")  # the invitee switched
    done = await client.post(
        f"/invite/{token}",
        data={
            "_csrf_token": csrf_from(page.text),
            "first_name": "Ida",
            "password": GOOD_PASSWORD,
        },
        follow_redirects=True,
    )
    assert done.status_code == 200 and lang_of(done.text) == "es"
    assert await stored_language(fast_store, "ida@example.org") == "es"


# --- accounts an admin makes ------------------------------------------------------------------


async def test_added_and_bulk_accounts_keep_the_chosen_language(fast_store: Store) -> None:
    added = await add_user(
        fast_store,
        NewUserForm(first_name="Ana", email="ana@example.org", language="es"),
        actor="tester",
    )
    assert isinstance(added, UserAdded) and added.user.language == "es"
    parsed = await preview(
        fast_store, "Jan Berg,jan@example.org\nUte Kahl,ute@example.org", "random"
    )
    result = await create_batch(
        fast_store, parsed, BulkOptions(passwords="random", language="de"), actor="tester"
    )
    assert len(result.created) == 2
    assert await mail_languages(fast_store, "account_created") == ["es", "de", "de"]
    jan = await get_user(fast_store.engine, result.created[0].user_id)
    assert jan is not None and jan.language == "de"
    await reject(fast_store, [jan.id], actor="tester", reason="")  # not pending: nothing sent
    await send_set_password_link(fast_store, added.user.id, actor="tester")
    assert await mail_languages(fast_store, "set_password") == ["es"]


async def test_a_code_usher_does_not_ship_is_refused_everywhere(fast_store: Store) -> None:
    with pytest.raises(LinkError, match="not one Usher speaks"):
        await make_link(fast_store, language="klingon")
    with pytest.raises(InvitationError, match="not one Usher speaks"):
        await send_invitations(
            fast_store, parse_email_list("a@x.org").entries, level="member", actor="t",
            language="klingon",
        )  # fmt: skip
    refused = await add_user(
        fast_store, NewUserForm(first_name="A", email="a@x.org", language="xx"), actor="t"
    )
    assert isinstance(refused, Refused) and "language" in refused.errors
    parsed = await preview(fast_store, "Jan Berg,jan@example.org", "random")
    with pytest.raises(BulkError, match="not one Usher speaks"):
        await create_batch(fast_store, parsed, BulkOptions(language="xx"), actor="t")
    assert await fast_store.engine.scalar("SELECT count(*) FROM users") == 0


async def test_a_rejection_is_written_in_the_language_the_signup_was_read_in(
    fast_store: Store,
) -> None:
    link = await make_link(fast_store, auto_accept=False, confirm_email=False)
    outcome = await sign_up_by_link(
        fast_store, link.token, form("ana@example.org"), actor="web", language="es"
    )
    assert outcome.kind == "pending" and outcome.user_id is not None
    await reject(fast_store, [outcome.user_id], actor="tester", reason="Not staff")
    assert await mail_languages(fast_store) == ["es", "es"]  # waiting, then rejected
    kinds = [row["kind"] for row in await outbox_rows(fast_store)]
    assert kinds == ["pending_approval", "rejected"]


async def test_switching_on_the_confirmation_page_becomes_the_accounts_language(
    client: Client, fast_store: Store
) -> None:
    link = await make_link(fast_store, language="de", auto_accept=False, confirm_email=True)
    await join(client, link.token, "lea@example.org", headers=FRENCH)
    assert await stored_language(fast_store, "lea@example.org") == "de"
    [confirmation] = await outbox_rows(fast_store, "confirm_email")
    path = "/confirm/" + token_in(confirmation["values"]["confirm_url"], "confirm")
    opened = await client.get(f"{path}?lang=fr", headers=FRENCH)  # the switcher link
    assert lang_of(opened.text) == "fr"
    done = await client.post(
        path, data={"_csrf_token": csrf_from(opened.text)}, headers=FRENCH, follow_redirects=True
    )
    assert done.status_code == 200 and lang_of(done.text) == "fr"
    assert await stored_language(fast_store, "lea@example.org") == "fr"
    assert await mail_languages(fast_store, "pending_approval") == ["fr"]
