"""Which addresses Usher accepts (issue 15): the part before the @ must be plain ASCII —
refused with one clear message at every entry point (join form, invitation list, single user,
bulk lines, command line) — while internationalised domains are accepted and sent as punycode."""

from __future__ import annotations

import html
import json
import sqlite3
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from signup_server import create_app
from store import Settings, Store
from store.domain.addresses import AddressProblem, address_key, normalise_address
from store.messaging.outbox import OutboxError, send_test
from store.onboarding.bulk_lines import parse_bulk_lines
from store.onboarding.email_lists import parse_email_list
from store.onboarding.single_user import NewUserForm, Refused, add_user
from store.service.settings import SettingsError, load_settings

from .helpers import GOOD_PASSWORD, make_link, run_usher

REFUSAL = "Usher can't deliver to addresses with non-ASCII characters before the @"
FULLWIDTH = "\uff41lice@acme.org"
CYRILLIC = "\u0430lice@acme.org"
NON_ASCII = ["Älice@acme.org", "älice@acme.org", FULLWIDTH, CYRILLIC]
"""Latin with a diaeresis, fullwidth U+FF41, Cyrillic U+0430: each looks like `alice@`."""


@pytest.mark.parametrize("address", NON_ASCII)
def test_non_ascii_local_parts_are_refused_with_the_reason(address: str) -> None:
    with pytest.raises(AddressProblem) as refused:
        normalise_address(address)
    assert str(refused.value).startswith(REFUSAL)
    assert f"U+{ord(address[0]):04X}" in str(refused.value)


def test_lookalikes_are_named_not_folded() -> None:
    with pytest.raises(AddressProblem, match="FULLWIDTH LATIN SMALL LETTER A, which looks"):
        normalise_address(FULLWIDTH)
    with pytest.raises(AddressProblem, match="CYRILLIC SMALL LETTER IE, which looks like 'e'"):
        normalise_address("alic\u0435@acme.org")


def test_idn_domains_are_accepted_in_either_form() -> None:
    assert normalise_address("ann@BÜCHER.de") == "ann@bücher.de"
    assert normalise_address("ann@xn--bcher-kva.de") == "ann@bücher.de"
    assert address_key("ann@bücher.de") == "ann@xn--bcher-kva.de"


def test_invitation_lists_refuse_the_line() -> None:
    parsed = parse_email_list("ann@acme.org\nÄlice@acme.org\nbob@bücher.de")
    assert [entry.address for entry in parsed.entries] == ["ann@acme.org", "bob@bücher.de"]
    [problem] = parsed.problems
    assert problem.line == 2 and REFUSAL in problem.reason


def test_bulk_lines_refuse_the_line() -> None:
    parsed = parse_bulk_lines(f"Ann Lee,ann@acme.org\nAl Ice,{FULLWIDTH}\n")
    ready = [line for line in parsed.lines if not line.problems]
    bad = [line for line in parsed.lines if line.problems]
    assert [line.email for line in ready] == ["ann@acme.org"]
    assert len(bad) == 1 and bad[0].line == 2
    assert any(REFUSAL in problem.message for problem in bad[0].problems)


async def test_single_user_form_refuses_it(fast_store: Store) -> None:
    form = NewUserForm(first_name="Al", last_name="Ice", email="Älice@acme.org", level="member")
    outcome = await add_user(fast_store, form, actor="tester")
    assert isinstance(outcome, Refused)
    assert outcome.errors["email"].startswith(REFUSAL)
    assert await fast_store.engine.scalar("SELECT count(*) FROM users") == 0


async def test_join_form_refuses_it_and_keeps_what_was_typed(
    fast_store: Store, settings: Settings
) -> None:
    link = await make_link(fast_store)
    app = create_app(fast_store, settings, secret_key=await fast_store.secret_key())
    async with AsyncTestClient[Litestar](app) as client:
        page = await client.get(f"/join/{link.token}")
        token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        fields = {
            "_csrf_token": token,
            "email": CYRILLIC,
            "first_name": "Alice",
            "last_name": "Lee",
            "password": GOOD_PASSWORD,
            "password_confirm": GOOD_PASSWORD,
        }
        response = await client.post(f"/join/{link.token}", data=fields, follow_redirects=False)
    assert response.status_code == 400
    text = html.unescape(response.text)
    assert REFUSAL in text and "CYRILLIC SMALL LETTER A" in text
    assert f'value="{CYRILLIC}"' in text
    assert await fast_store.engine.scalar("SELECT count(*) FROM users") == 0
    assert await fast_store.engine.scalar("SELECT count(*) FROM outbox") == 0


async def test_test_mail_refuses_it(fast_store: Store) -> None:
    with pytest.raises(OutboxError, match=REFUSAL):
        await send_test(fast_store, "Älice@acme.org", "tester")


def test_notify_addresses_are_checked_by_the_same_rule() -> None:
    with pytest.raises(SettingsError, match=REFUSAL):
        load_settings(environ={"USHER_NOTIFY": "admin@acme.org,Ädmin@acme.org"})
    with pytest.raises(SettingsError, match=REFUSAL):
        load_settings(environ={"USHER_MAIL_FROM": "\u00fcsher@acme.org"})


def test_command_line_refuses_it_everywhere(tmp_path: Path) -> None:
    """`users add` (exit 2, nothing written), `invite` and `users import` (the line refused)."""
    db = tmp_path / "u.db"
    add = run_usher(
        "users", "add", "--db", str(db), "--first", "Al", "--last", "Ice",
        "--email", "Älice@acme.org", "--level", "member",
    )  # fmt: skip
    assert add.returncode == 2 and REFUSAL in add.stderr, add.stderr
    invite = run_usher(
        "invite", "--db", str(db), "--level", "member", "--json",
        stdin=f"ann@acme.org\n{FULLWIDTH}\n",
    )  # fmt: skip
    assert invite.returncode == 0, invite.stderr
    [error] = json.loads(invite.stdout)["errors"]
    assert error["line"] == 2 and REFUSAL in error["error"]
    lines = tmp_path / "people.csv"
    lines.write_text(f"Bo Lee,bo@bücher.de\nAl Ice,{CYRILLIC}\n", encoding="utf-8")
    imported = run_usher(
        "users", "import", str(lines), "--db", str(db), "--level", "member",
        "--passwords", "random", "--no-email", "--json",
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    [error] = json.loads(imported.stdout)["errors"]
    assert error["line"] == 2 and REFUSAL in error["error"]
    with sqlite3.connect(db) as conn:
        emails = [row[0] for row in conn.execute("SELECT email FROM users ORDER BY id")]
        invited = [row[0] for row in conn.execute("SELECT email FROM invitations")]
    assert emails == ["bo@bücher.de"] and invited == ["ann@acme.org"]
