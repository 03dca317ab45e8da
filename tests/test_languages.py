"""Invitees read Usher in their own language (issue 22): the choice rule, complete catalogues,
and the pseudo-locale proving that no page or email string escapes translation."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from babel.messages.pofile import read_po
from litestar import Litestar
from litestar.testing import AsyncTestClient

from signup_server import create_app
from signup_server.render import TEMPLATES_DIR
from store import Settings, Store, load_settings
from store.domain.languages import (
    COOKIE,
    LOCALE_DIR,
    PSEUDO,
    SHIPPED,
    choose,
    direction,
    pseudo,
    translations,
)
from store.messaging.emails.render import known_kinds, render
from store.service.settings import SettingsError

from .fixtures_ux import EMAIL_SAMPLES
from .helpers import GOOD_PASSWORD, make_link, outbox_rows

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = [code for code in SHIPPED if code != "en"]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")
TAG = re.compile(r"<[^>]+>")


# --- the rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "en"),
        (None, "fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        (None, "fr-CA", "fr"),
        (None, "ja, de;q=0.5, es;q=0.7", "es"),  # the preferred one among those shipped
        (None, "ja, zh", "en"),  # none shipped: English
        (None, "de;q=0, fr;q=0.1", "fr"),  # q=0 means "not this one"
        ("ar", "fr", "ar"),  # the switcher wins over the browser
        ("xx", "de", "de"),  # a cookie naming nothing shipped is ignored
        (None, "fr;q=abc, \u202ede\u202c, " + "x" * 5000, "en"),  # junk changes nothing
        (None, ",".join(["ja"] * 100) + ",fr", "en"),  # only the first 32 are read
    ],
)
def test_the_language_is_the_switchers_then_the_browsers_then_the_default(
    cookie: str | None, header: str | None, expected: str
) -> None:
    assert choose(switched=cookie, accept_language=header) == expected


@pytest.mark.parametrize(
    ("switched", "set_for", "configured", "header", "expected"),
    [
        ("fr", "de", "es", "ar", "fr"),  # the invitee's own choice first
        (None, "de", "es", "fr", "de"),  # then the link's or invitation's, set by the admin
        ("xx", "de", "", "fr", "de"),  # a switch to nothing shipped is no choice
        (None, None, "es", "fr", "es"),  # then USHER_LANGUAGE
        (None, "xx", "es", "fr", "es"),  # a stored code no longer shipped counts for nothing
        (None, None, "", "fr", "fr"),  # unset: the browser's
        (None, None, "", None, "en"),  # nothing at all: English
        (None, None, PSEUDO, "fr", PSEUDO),  # the pseudo-locale, only from USHER_LANGUAGE
        (PSEUDO, PSEUDO, "", "de", "de"),  # ... never from a switch or a stored code
    ],
)
def test_choose_orders_the_switch_the_admin_usher_language_the_browser_english(
    switched: str | None, set_for: str | None, configured: str, header: str | None, expected: str
) -> None:
    assert (
        choose(switched=switched, set_for=set_for, configured=configured, accept_language=header)
        == expected
    )


def test_usher_language_names_a_shipped_language(tmp_path: Path) -> None:
    assert load_settings({}, environ={"USHER_LANGUAGE": "de"}).language == "de"
    assert load_settings({}, environ={}).language == ""  # unset: it does not beat the browser
    with pytest.raises(SettingsError, match="USHER_LANGUAGE"):
        Settings(language="klingon")
    assert direction("ar") == "rtl" and direction("fr") == "ltr"


# --- the catalogues -------------------------------------------------------------------------------


def _catalogue(code: str) -> Any:
    with (LOCALE_DIR / code / "LC_MESSAGES" / "usher.po").open("rb") as source:
        return read_po(source, locale=code)


def test_the_template_is_what_the_templates_say(tmp_path: Path) -> None:
    """`make messages` was run: extracting again gives the same strings as the committed .pot."""
    fresh = tmp_path / "usher.pot"
    subprocess.run(
        [
            *(str(Path(sys.executable).parent / "pybabel"), "extract"),
            *("-F", "store/locale/babel.cfg", "-k", "N_", "--no-location"),
            *("-o", str(fresh), "."),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with fresh.open("rb") as new, (LOCALE_DIR / "usher.pot").open("rb") as committed:
        assert {m.id for m in read_po(new)} == {m.id for m in read_po(committed)}


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_catalogue_is_complete(code: str) -> None:
    """No empty, fuzzy or missing msgstr, every placeholder kept (pybabel's own checks too)."""
    with (LOCALE_DIR / "usher.pot").open("rb") as source:
        wanted = {m.id for m in read_po(source) if m.id}
    catalogue = _catalogue(code)
    have = {m.id: m for m in catalogue if m.id}
    assert wanted <= set(have), f"{code}: missing {sorted(map(str, wanted - set(have)))[:5]}"
    for message in have.values():
        assert not message.fuzzy, f"{code}: fuzzy {message.id!r}"
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(s.strip() for s in strings), f"{code}: empty {message.id!r}"
        wanted_names = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            names = set(PLACEHOLDER.findall(string))
            # A plural's singular may say "one" instead of %(count)s (French "une heure").
            assert names <= wanted_names and wanted_names - names <= {"%(count)s", "%(num)s"}, (
                f"{code}: {message.id!r} -> {string!r}"
            )
            assert (
                TAG.findall(string) == TAG.findall(ids[0])
                or len(strings) > 1
                or (sorted(TAG.findall(string)) == sorted(TAG.findall(ids[0])))
            ), f"{code}: markup changed in {message.id!r}"
        assert not list(message.check(catalogue)), f"{code}: {message.id!r}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_a_translation_is_used(code: str) -> None:
    assert translations(code).gettext("Create my account") != "Create my account"


# --- the pseudo-locale: nothing escapes translation -----------------------------------------------

DYNAMIC = ("Acme", "ann@acme.org", "https://join.acme.org", "Usher", "Ann")
"""Values a page or email shows that are not Usher's words (names, addresses, URLs)."""


def untranslated(markup: str, values: Iterable[str] = ()) -> list[str]:
    """The user-visible text outside any pseudo-translated ⟦…⟧ string."""
    markup = re.sub(r"<nav class=\"languages\".*?</nav>", "", markup, flags=re.S)  # endonyms
    markup = re.sub(r"<(script|style|title)[^>]*>.*?</\1>", "", markup, flags=re.S)
    visible = [html.unescape(a) for a in re.findall(r'aria-label="([^"]*)"', markup)]
    visible.append(html.unescape(TAG.sub(" ", markup)))
    text = " ".join(visible)
    while re.search(r"⟦[^⟦⟧]*⟧", text):  # innermost first: a translated string inside another
        text = re.sub(r"⟦[^⟦⟧]*⟧", " ", text)
    for value in sorted({*DYNAMIC, *values}, key=len, reverse=True):
        text = text.replace(value, " ")
    return [word for word in text.split() if re.search(r"[A-Za-z]", word)]


def test_pseudo_keeps_placeholders_and_lengthens() -> None:
    out = pseudo("Join %(org)s now")
    assert out.startswith("⟦") and out.endswith("⟧") and "%(org)s" in out
    assert len(out) > len("Join %(org)s now") * 1.3


EXPIRES = datetime(2026, 12, 9, 14, 0, tzinfo=UTC)
PAGE_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("index.html", {}),
    ("login.html", {"errors": {"email": "⟦e⟧"}, "notice": "⟦n⟧"}),
    ("forgot.html", {"errors": {}}),
    ("forgot.html", {"sent": True, "again_minutes": 3}),
    ("change_address.html", {"errors": {"email": "⟦e⟧"}}),
    ("confirm.html", {"email": "ann@acme.org", "token": "T"}),
    ("error.html", {"title": "⟦t⟧", "message": "⟦m⟧", "status_code": 410, "contact": "Acme"}),
    ("error.html", {"title": "⟦t⟧", "message": "⟦m⟧", "status_code": 400, "back": "/x"}),
    ("error.html", {"title": "⟦t⟧", "message": "⟦m⟧", "status_code": 500}),
    ("set_password.html", {"errors": {"password": "⟦p⟧"}, "confirmed": True, "email": "a"}),
    ("account_password.html", {"errors": {}, "must_change": True}),
    ("account_password.html", {"errors": {"password": "⟦p⟧"}, "must_change": False}),
    (
        "invite.html",
        {"level": "admin", "message": "⟦Hi⟧", "expires_at": datetime(2026, 12, 9, tzinfo=UTC)},
    ),
    ("invite_done.html", {"outcome": "accepted"}),
    ("invite_done.html", {"outcome": "exists"}),
    *[("invite_gone.html", {"reason": r}) for r in ("accepted", "expired", "revoked", "bad")],
    *[
        ("join.html", {"level": level, "confirm": c, "needs_approval": a, "has_password": True})
        for level, c, a in [("admin", True, True), ("member", True, False), ("viewer", 0, 1)]
    ],
    ("join.html", {"level": "manager", "has_password": True, "link_password_kept": True}),
    ("join.html", {"domains": ("acme.org", "*.acme.org"), "errors": {"email": "⟦e⟧"}}),
    *[
        ("signup_done.html", {"state": s, "email": e, "again_minutes": m, "sent_again": m})
        for s, e, m in [("check-email", "ann@acme.org", 2), ("check-email", "", 1)]
    ],
    ("signup_done.html", {"state": "check-email", "again_minutes": 4, "can_recover": True}),
    *[
        ("signup_done.html", {"state": s, "contact": "Acme"})
        for s in ("pending", "ready", "confirmed", "confirmed-pending", "closed", "other")
    ],
    *[
        ("account.html", {"user": SimpleNamespace(status=s, level="member", **who)})
        for s, who in [
            ("active", {"name": "Ann", "email": "ann@acme.org", "decision_reason": ""}),
            ("unconfirmed", {"name": "", "email": "ann@acme.org", "decision_reason": ""}),
            ("pending", {"name": "", "email": "ann@acme.org", "decision_reason": ""}),
            ("rejected", {"name": "", "email": "ann@acme.org", "decision_reason": "⟦r⟧"}),
            ("disabled", {"name": "", "email": "ann@acme.org", "decision_reason": ""}),
        ]
    ],
]


@pytest.fixture
async def pseudo_app(fast_store: Store, tmp_path: Path) -> AsyncIterator[Litestar]:
    settings = load_settings(
        {"db": str(tmp_path / "usher.db"), "port": 0, "org": "Acme", "language": PSEUDO},
        environ={},
    )
    yield create_app(fast_store, settings, secret_key=await fast_store.secret_key())


def test_every_page_template_is_covered() -> None:
    pages = {p.name for p in TEMPLATES_DIR.glob("*.html") if not p.name.startswith("_")}
    assert pages - {"base.html"} == {name for name, _ in PAGE_VARIANTS}


@pytest.mark.parametrize(("name", "context"), PAGE_VARIANTS)
async def test_every_page_speaks_the_pseudo_locale(
    pseudo_app: Litestar, name: str, context: dict[str, Any]
) -> None:
    engine = pseudo_app.template_engine
    assert engine is not None
    full = {"errors": {}, "values": {}, "csrf_input": "", "email": "", "token": "T", **context}
    page = engine.get_template(name).render(**full)
    assert '<html lang="qps-ploc">' in page
    assert untranslated(page) == [], name
    assert "?lang=fr" in page  # the switcher, on every page


async def test_pages_served_in_the_pseudo_locale(pseudo_app: Litestar, fast_store: Store) -> None:
    link = await make_link(fast_store, password="opensesame", domains=["acme.org"])
    async with AsyncTestClient(pseudo_app) as client:
        for path in ["/", "/login", "/password/forgot", f"/join/{link.token}", "/join/" + "y" * 43]:
            page = await client.get(path)
            assert untranslated(page.text) == [], path


@pytest.mark.parametrize("kind", known_kinds())
def test_every_email_speaks_the_pseudo_locale(kind: str) -> None:
    settings = Settings(org="Acme", public_url="https://join.acme.org")
    values = EMAIL_SAMPLES[kind]
    mail = render(kind, values, settings, recipient="ann@acme.org", language=PSEUDO)
    shown = [str(v) for v in values.values() if isinstance(v, str)]
    shown += [p[k] for p in values.get("people", []) for k in ("name", "email", "via", "level")]
    shown += ["Welcome aboard!", "See you Monday.", "Staff only.", "Ask your manager."]
    shown += ["usher users list --status pending", "usher users approve ID"]
    for part in (mail.subject, mail.text, mail.html):
        assert untranslated(html.escape(part) if part is not mail.html else part, shown) == [], (
            kind,
            part,
        )
    assert '<html lang="qps-ploc"' in mail.html


# --- a real language, end to end through the app --------------------------------------------------

Client = AsyncTestClient[Litestar]


async def test_accept_language_picks_french_and_the_switcher_remembers_german(
    client: Client, fast_store: Store
) -> None:
    link = await make_link(fast_store)
    path = f"/join/{link.token}"
    french = await client.get(path, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="fr">' in french.text
    assert "Créer mon compte" in french.text
    english = await client.get(path)
    assert "Create my account" in english.text  # nothing asked: English
    switched = await client.get(f"{path}?lang=de", headers={"Accept-Language": "fr"})
    assert '<html lang="de">' in switched.text
    assert "Mein Konto anlegen" in switched.text
    assert f"{COOKIE}=de" in switched.headers["set-cookie"]
    assert "samesite=lax" in switched.headers["set-cookie"].lower()
    later = await client.get(path, headers={"Accept-Language": "fr"})  # the cookie now
    assert '<html lang="de"' in later.text
    spanish = await client.get(f"{path}?lang=es")
    assert "Crear mi cuenta" in spanish.text
    arabic = await client.get(f"{path}?lang=ar")
    assert '<html lang="ar" dir="rtl">' in arabic.text
    assert "إنشاء حسابي" in arabic.text


async def test_a_bogus_switch_sets_nothing(client: Client) -> None:
    page = await client.get("/?lang=%0d%0aSet-Cookie:%20x=1")
    assert page.status_code == 200
    assert COOKIE not in page.headers.get("set-cookie", "")


@pytest.mark.parametrize("code", TRANSLATED)
@pytest.mark.parametrize("kind", known_kinds())
def test_every_email_renders_in_every_language(kind: str, code: str) -> None:
    settings = Settings(org="Acme", public_url="https://join.acme.org")
    mail = render(kind, EMAIL_SAMPLES[kind], settings, recipient="ann@acme.org", language=code)
    for part in (mail.subject, mail.text, mail.html):
        assert "%(" not in part and part.strip()
    rtl = ' dir="rtl"' if direction(code) == "rtl" else ""
    assert f'<html lang="{code}"{rtl}>' in mail.html
    english = render(kind, EMAIL_SAMPLES[kind], settings, recipient="ann@acme.org")
    assert mail.text != english.text


async def test_a_french_signup_gets_its_confirmation_in_french(
    client: Client, fast_store: Store
) -> None:
    link = await make_link(fast_store, confirm_email=True)
    path = f"/join/{link.token}"
    french = {"Accept-Language": "fr"}
    page = await client.get(path, headers=french)
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token
    fields = {"email": "lea@example.org", "first_name": "Léa", "password": GOOD_PASSWORD}
    done = await client.post(
        path, data={"_csrf_token": token.group(1), **fields}, headers=french, follow_redirects=True
    )
    assert "Consultez vos e-mails" in done.text
    [row] = await outbox_rows(fast_store)
    mail = render(row["kind"], msgspec.json.decode(row["payload"]), fast_store.settings)
    assert mail.subject == "Confirmez votre adresse e-mail pour Usher"
    assert "Bonjour Léa," in mail.text


@pytest.mark.parametrize("code", [*TRANSLATED, PSEUDO])
def test_a_translated_sentence_still_escapes_what_it_carries(code: str) -> None:
    settings = Settings(org="Acme", public_url="https://join.acme.org")
    values = {**EMAIL_SAMPLES["invitation"], "inviter": '<img src=x onerror="alert(1)">'}
    mail = render("invitation", values, settings, recipient="ann@acme.org", language=code)
    assert "<img" not in mail.html and "&lt;img src=x" in mail.html
