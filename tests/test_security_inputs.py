"""Text that reaches people: control characters, bidi controls and invisible characters are
refused in every name and label, from every entry point (web forms, store calls, the CLI), with
a sentence that says which character and where; free text an admin types (reject reasons) has
them stripped, escape sequences whole."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from unicodedata import category

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from store import Settings, Store
from store.domain.text import one_line, refused_at, strip_unsafe, text_problem, visible
from store.onboarding.approvals import reject
from store.onboarding.bulk_lines import parse_bulk_lines
from store.onboarding.email_lists import parse_email_list
from store.onboarding.invitations import InvitationError, send_invitations
from store.onboarding.links import LinkDraft, LinkError, create_link
from store.onboarding.single_user import NewUserForm, check_fields

from .fixtures_security import INVITEE, World, csrf_from, world
from .fixtures_users import add_user
from .helpers import run_usher

__all__ = ["world"]

TITLE = "\x1b]2;pwned\x07"
"""OSC 2: sets the terminal's title (what the CSV in the issue did)."""
RED = "\x1b[31m"
HOSTILE = {
    "osc-title": f"Ann{TITLE}",
    "csi-colour": f"{RED}Ann",
    "c1-csi": "Ann\x9b31m",
    "nul": "An\x00n",
    "del": "Ann\x7f",
    "rlo": "Ann\u202eeeL",
    "lrm": "\u200eAnn",
    "isolate": "Ann\u2066x\u2069",
    "arabic-mark": "Ann\u061c",
    "zero-width-space": "An\u200bn",
    "bom": "\ufeffAnn",
    "tag": "Ann\U000e0041",
    "lone-joiner": "Ann\u200d",
}


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_every_hostile_character_is_refused_with_its_position(name: str) -> None:
    problem = text_problem(name)
    index = refused_at(name)
    assert problem is not None and index is not None
    assert f"at position {index + 1}" in problem
    assert f"U+{ord(name[index]):04X}" in problem


def test_the_sentence_names_the_character() -> None:
    assert text_problem(f"Ann{TITLE}") == (
        "contains a control character, ESCAPE (U+001B), at position 4"
    )
    assert text_problem("Ann\u202eeeL") == (
        "contains a text-direction character, RIGHT-TO-LEFT OVERRIDE (U+202E), at position 4"
    )


@pytest.mark.parametrize(
    "name",
    [
        "Ann",
        "José María",
        "Zoë O'Brien-Łukasiewicz",
        "\u0645\u0631\u06cc\u0645\u200c\u0632\u0627\u062f\u0647",  # Persian: ZWNJ in a word
        "क्\u200dष",  # Devanagari: ZWJ between letters
        "👩\u200d💻 Dev",  # an emoji sequence
        "李小龍",
        "Ann\tLee\r\n",  # whitespace is only spacing
        "Ann\u00a0Lee\u3000",
    ],
)
def test_real_names_pass(name: str) -> None:
    assert text_problem(name) is None


def test_whitespace_of_any_kind_is_folded_in_one_line_fields() -> None:
    assert one_line(" Ann\t\u00a0Lee\r\nX\u2028Y ") == "Ann Lee X Y"


def test_stripping_removes_escape_sequences_whole() -> None:
    assert strip_unsafe(f"{RED}No{TITLE} room\u202e\x9b1m") == "No room"


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_what_passes_the_rule_shows_nothing_a_terminal_obeys(text: str) -> None:
    obeyed = {"Cc", "Cf", "Cs"}
    shown = visible(text)
    assert len(shown) == len(text)
    assert all(c in "\t\n\u200c\u200d" or category(c) not in obeyed for c in shown)
    if text_problem(text) is None:
        assert all(c.isspace() or c in "\u200c\u200d" or category(c) not in obeyed for c in text)
    assert text_problem(strip_unsafe(text)) is None


# --- the web forms ----------------------------------------------------------------------------


async def _post(world: World, template: str, fields: dict[str, str]) -> Any:
    page = await world.client.get(world.form_page(template))
    return await world.client.post(
        world.path(template),
        data={"_csrf_token": csrf_from(page.text), **fields},
        follow_redirects=False,
    )


@pytest.mark.parametrize("field", ["first_name", "last_name"])
async def test_the_join_form_refuses_escape_in_a_name(world: World, field: str) -> None:
    fields = {
        "email": "eve@example.org",
        "first_name": "Eve",
        "last_name": "Lee",
        "password": "a long enough passphrase",
        "password_confirm": "a long enough passphrase",
        field: f"Eve{TITLE}",
    }
    response = await _post(world, "/join/{token:str}", fields)
    assert response.status_code == 400
    assert "contains a control character, ESCAPE (U+001B), at position 4" in response.text
    assert "\x1b" not in response.text and "\x07" not in response.text
    found = await world.store.engine.fetchone(
        "SELECT id FROM users WHERE email = 'eve@example.org'"
    )
    assert found is None


async def test_the_invitation_form_refuses_a_bidi_override(world: World) -> None:
    fields = {
        "first_name": "Ivy\u202e",
        "last_name": "Ng",
        "password": "a long enough passphrase",
        "password_confirm": "a long enough passphrase",
    }
    response = await _post(world, "/invite/{token:str}", fields)
    assert response.status_code == 400
    assert "RIGHT-TO-LEFT OVERRIDE (U+202E), at position 4" in response.text
    found = await world.store.engine.fetchone("SELECT id FROM users WHERE email = ?", (INVITEE,))
    assert found is None


# --- store calls behind the console -----------------------------------------------------------


def test_a_single_user_with_escape_in_the_name_is_refused() -> None:
    form = NewUserForm(first_name=f"{RED}Ann", last_name="Lee\u202e", email="ann@acme.org")
    errors = check_fields(form)
    assert errors["first_name"] == (
        "The first name contains a control character, ESCAPE (U+001B), at position 1"
    )
    assert "RIGHT-TO-LEFT OVERRIDE (U+202E), at position 4" in errors["last_name"]


def test_a_bulk_line_with_escape_in_the_name_is_a_problem_not_ready() -> None:
    text = f"Ann{TITLE} Lee,ann@acme.org\nBo Ng,bo@acme.org\nCy \u202eEvil,cy@acme.org\n"
    parsed = parse_bulk_lines(text, "random")
    assert [line.line for line in parsed.ready] == [2]
    first, third = parsed.problems
    assert first.has("name") and "ESCAPE (U+001B), at position 4" in first.error
    assert third.has("name") and "RIGHT-TO-LEFT OVERRIDE (U+202E), at position 4" in third.error
    for line in parsed.problems:
        shown = line.input + line.first_name + line.last_name + line.error
        assert refused_at(shown) is None, shown


def test_a_pasted_display_name_with_escape_is_a_problem() -> None:
    parsed = parse_email_list(f'"Ann{RED} Lee" <ann@acme.org>\nbo@acme.org\n')
    assert [entry.address for entry in parsed.entries] == ["bo@acme.org"]
    [problem] = parsed.problems
    assert problem.line == 1 and "ESCAPE (U+001B)" in problem.reason
    assert refused_at(problem.text) is None


async def test_a_link_label_with_escape_is_refused(store: Store) -> None:
    with pytest.raises(LinkError, match=r"the label contains a control character, ESCAPE"):
        await create_link(store, LinkDraft(label=f"Staff{TITLE}"), actor="tester")
    assert await store.engine.scalar("SELECT count(*) FROM invite_links") == 0


async def test_an_invitation_message_with_escape_is_refused(store: Store) -> None:
    entries = parse_email_list("ann@acme.org").entries
    with pytest.raises(InvitationError, match=r"the personal message contains a control"):
        await send_invitations(store, entries, level="member", actor="t", message=f"Hi{RED}!")
    assert await store.engine.scalar("SELECT count(*) FROM invitations") == 0


async def test_a_reject_reason_has_its_escapes_stripped(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        user_id = await add_user(store, "pat@acme.org", first="Pat")
        await reject(store, [user_id], actor="t", reason=f"{RED}Not staff{TITLE}\u202e")
        stored = await store.engine.scalar(
            "SELECT decision_reason FROM users WHERE id = ?", (user_id,)
        )
        payload = await store.engine.scalar("SELECT payload FROM outbox WHERE kind LIKE '%reject%'")
    assert stored == "Not staff"
    assert payload is not None and "\\u001b" not in str(payload) and "\x1b" not in str(payload)


# --- the CLI ----------------------------------------------------------------------------------


def _count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def test_cli_users_add_refuses_escape_in_a_name(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    result = run_usher(
        "users", "add", "--first", f"Ann{TITLE}", "--last", "Lee", "--email", "ann@acme.org",
        "--level", "member", "--db", str(db),
    )  # fmt: skip
    assert result.returncode == 2
    assert "first name contains a control character, ESCAPE (U+001B), at position 4" in (
        result.stderr
    )
    assert "\x1b" not in result.stderr + result.stdout
    assert _count(db, "users") == 0


def test_cli_users_import_reports_the_line_and_stores_nothing_of_it(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    lines = tmp_path / "people.csv"
    lines.write_text(f"Ann{TITLE} Lee,ann@acme.org\n{RED}Bo Ng,bo@acme.org\nCy Ho,cy@acme.org\n")
    result = run_usher(
        "users", "import", str(lines), "--level", "member", "--passwords", "random",
        "--no-email", "--json", "--db", str(db),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["created"] == 1
    errors = {e["line"]: e for e in report["errors"]}
    assert sorted(errors) == [1, 2]
    assert "ESCAPE (U+001B), at position 4" in errors[1]["error"]
    assert "\x1b" not in result.stdout and "\\u001b" not in result.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT first_name, last_name FROM users").fetchall() == [("Cy", "Ho")]


def test_cli_invite_reports_a_hostile_display_name(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    result = run_usher(
        "invite", "--level", "member", "--json", "--db", str(db),
        stdin=f"Ann{RED} Lee <ann@acme.org>\nbo@acme.org\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["invited"] == 1
    [error] = report["errors"]
    assert error["line"] == 1 and "ESCAPE (U+001B)" in error["error"]
    assert "\x1b" not in result.stdout and "\\u001b" not in result.stdout


def test_cli_links_create_refuses_a_hostile_label(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    result = run_usher(
        "links", "create", "--level", "member", "--label", "Staff\u202e", "--db", str(db)
    )
    assert result.returncode == 2
    assert "the label contains a text-direction character" in result.stderr
    assert _count(db, "invite_links") == 0
