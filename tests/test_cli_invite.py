"""`usher invite` as a real process: from a file or stdin, text or JSON, and exit 2 with the
line-numbered errors when nothing valid was given."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from .helpers import run_usher

MESSY = """Name,Email
"Lee, Ann",ann@x.org
Bob Stone,bob@@y.org
Cy,CY@z.org
Dup,ann@x.org
"""


def run(
    db: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return run_usher("invite", "--db", str(db), *args, stdin=stdin, variables=env)


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql).fetchall())


def test_invite_from_a_file_prints_the_summary(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    paste = tmp_path / "list.csv"
    paste.write_text(MESSY, encoding="utf-8")
    result = run(db, "--level", "viewer", "--file", str(paste), "--message", "Welcome!")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Invited 2 people as viewer." in out
    assert "line 5: ann@x.org — already in this list (line 2)" in out
    assert "line 3: 'bob@@y.org'" in out
    assert "kept in the outbox" in out  # no SMTP configured
    assert rows(db, "SELECT email, name, level, message FROM invitations ORDER BY id") == [
        ("ann@x.org", "Lee, Ann", "viewer", "Welcome!"),
        ("CY@z.org", "Cy", "viewer", "Welcome!"),
    ]
    assert rows(db, "SELECT count(*) FROM outbox WHERE kind = 'invitation'") == [(2,)]
    assert rows(db, "SELECT action FROM audit") == [("invitations_sent",)]


def test_invite_from_stdin_as_json_and_reinvite(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    first = run(db, "--level", "member", "--json", stdin="ann@x.org; Bob <bob@y.org>\nnope\n")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["invited"] == 2 and report["skipped"] == 0
    assert report["errors"] == [{"line": 2, "input": "nope", "error": "no email address found"}]
    assert len(report["invitation_ids"]) == 2

    again = run(db, "--level", "member", "--json", stdin="ann@x.org\ncy@z.org")
    report = json.loads(again.stdout)
    assert report["invited"] == 1 and report["skipped"] == 1
    assert report["skipped_details"][0]["line"] == 1
    assert "pending invitation" in report["skipped_details"][0]["reason"]

    reinvited = run(db, "--level", "admin", "--reinvite", "--json", stdin="ann@x.org", **{})
    report = json.loads(reinvited.stdout)
    assert report["invited"] == 1 and report["reinvited"] == 1
    assert rows(db, "SELECT level FROM invitations WHERE email = 'ann@x.org'") == [("admin",)]


def test_nothing_valid_is_exit_2_with_line_numbers(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    result = run(db, "--level", "member", stdin="Email\nbob@@y.org\n\nJust a name\n")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("usher: error: no valid email address to invite")
    assert "line 2: 'bob@@y.org'" in result.stderr
    assert "line 4: 'Just a name' — no email address found" in result.stderr
    as_json = run(db, "--level", "member", "--json", stdin="bob@@y.org")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["errors"][0]["line"] == 1
    empty = run(db, "--level", "member", stdin="")
    assert empty.returncode == 2 and "the list is empty" in empty.stderr
    assert not db.exists()  # nothing valid: the database is not even opened


def test_bad_flags_and_unreadable_files_are_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    missing = run(db, "--level", "member", "--file", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "cannot read" in missing.stderr
    level = run(db, "--level", "owner", stdin="ann@x.org")
    assert level.returncode == 2 and "invalid choice" in level.stderr
    long_message = run(db, "--level", "member", "--message", "x" * 3000, stdin="ann@x.org")
    assert long_message.returncode == 2 and "personal message" in long_message.stderr
