"""`--language CODE` on `links create`, `invite`, `users add` and `users import` (issue 22), run
as real processes on a real database file: stored where the admin set it, shown in `--json` and
`links list`, every email written in it, and a code Usher does not ship refused with exit 2."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import msgspec
import pytest

from store import Settings
from store.messaging.emails.render import render

from .helpers import run_usher as usher

LEVEL = ["--level", "member"]
SETTINGS = Settings(org="Acme", public_url="https://join.acme.org")


def rows(db: str, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql).fetchall())


def mail_languages(db: str) -> list[str]:
    """The `<html lang>` of every queued email, rendered as delivery would."""
    found = []
    for kind, payload, recipient in rows(db, "SELECT kind, payload, recipient FROM outbox"):
        values = msgspec.json.decode(str(payload))
        mail = render(str(kind), values, SETTINGS, recipient=str(recipient))
        found.append(mail.html.split('lang="', 1)[1].split('"', 1)[0])
    return found


def test_links_create_stores_the_language_and_list_shows_it(tmp_path: Path) -> None:
    db = str(tmp_path / "usher.db")
    made = usher("links", "create", "--db", db, "--level", "member", "--language", "de", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["language"] == "de"
    plain = usher("links", "create", "--db", db, "--level", "member", "--json")
    assert json.loads(plain.stdout)["language"] is None  # the browser decides
    assert rows(db, "SELECT id, language FROM invite_links ORDER BY id") == [(1, "de"), (2, None)]
    listed = usher("links", "list", "--db", db, "--json")
    assert [link["language"] for link in json.loads(listed.stdout)] == [None, "de"]
    table = usher("links", "list", "--db", db).stdout.splitlines()
    assert table[0].split()[3] == "LANG"
    assert table[1].split()[3] == "—" and table[3].split()[3] == "de"


def test_invite_writes_each_invitation_and_its_email_in_the_language(tmp_path: Path) -> None:
    db = str(tmp_path / "usher.db")
    sent = usher(
        "invite", "--db", db, "--level", "member", "--language", "fr", "--json",
        stdin="ann@acme.org, bo@acme.org",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    report = json.loads(sent.stdout)
    assert (report["invited"], report["language"]) == (2, "fr")
    assert rows(db, "SELECT language FROM invitations") == [("fr",), ("fr",)]
    assert mail_languages(db) == ["fr", "fr"]


def test_users_add_stores_the_language_and_writes_the_email_in_it(tmp_path: Path) -> None:
    db = str(tmp_path / "usher.db")
    added = usher(
        "users", "add", "--db", db, "--first", "Ana", "--last", "Ruiz", "--email", "ana@acme.org",
        "--level", "member", "--language", "es", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["language"] == "es"
    assert rows(db, "SELECT language FROM users") == [("es",)]
    assert mail_languages(db) == ["es"]
    listed = usher("users", "list", "--db", db, "--json")
    assert json.loads(listed.stdout)[0]["language"] == "es"


def test_users_import_stores_the_batchs_language(tmp_path: Path) -> None:
    db = str(tmp_path / "usher.db")
    lines = tmp_path / "people.csv"
    lines.write_text("Jan Berg,jan@acme.org\nUte Kahl,ute@acme.org\n", encoding="utf-8")
    dry = usher(
        "users", "import", str(lines), "--db", db, "--level", "member", "--passwords", "random",
        "--language", "de", "--dry-run", "--json",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["language"] == "de"
    made = usher(
        "users", "import", str(lines), "--db", db, "--level", "member", "--passwords", "random",
        "--language", "de", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert (report["created"], report["language"]) == (2, "de")
    assert rows(db, "SELECT language FROM users") == [("de",), ("de",)]
    assert mail_languages(db) == ["de", "de"]


@pytest.mark.parametrize(
    ("command", "args"),
    [
        (["links", "create"], ["--level", "member"]),
        (["invite"], ["--level", "member"]),
        (["users", "add"], ["--first", "A", "--last", "", "--email", "a@x.org", *LEVEL]),
        (["users", "import"], ["-", "--level", "member", "--passwords", "random"]),
    ],
)  # fmt: skip
def test_a_language_usher_does_not_ship_is_exit_2(
    tmp_path: Path, command: list[str], args: list[str]
) -> None:
    db = str(tmp_path / "usher.db")
    refused = usher(
        *command, "--db", db, *args, "--language", "klingon", stdin="Ann Lee,ann@acme.org\n"
    )
    assert refused.returncode == 2, refused.stdout
    assert "language 'klingon' is not one Usher speaks: use one of en, fr, de, es, ar" in (
        refused.stderr
    )
    assert not Path(db).exists() or rows(db, "SELECT count(*) FROM users") == [(0,)]
