"""`usher users add` as a real process: the created object as JSON, a password from stdin, the
generated one printed once, and one-line refusals with exit status 2 that write nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from store.domain.tokens import one_time_credential_matches

from .helpers import GOOD_PASSWORD
from .helpers import run_usher as usher


def add(db: Path, *extra: str, email: str = "ann@acme.org", stdin: str | None = None) -> Any:
    return usher(
        "users", "add", "--first", "Ann", "--last", "Lee", "--email", email,
        "--level", "manager", "--db", str(db), *extra, stdin=stdin,
    )  # fmt: skip


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql).fetchall())


def test_json_prints_the_created_user_and_the_email_is_queued(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    result = add(db, "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["email"] == "ann@acme.org"
    assert (created["level"], created["status"], created["source"]) == (
        "manager",
        "active",
        "single",
    )
    assert created["password_choice"] == "link" and created["email_queued"] is True
    assert "one_time_password" not in created
    assert rows(db, "SELECT id, level FROM users") == [(created["id"], "manager")]
    assert rows(db, "SELECT kind, recipient FROM outbox") == [("account_created", "ann@acme.org")]


def test_password_file_dash_reads_stdin(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    result = add(db, "--password-file", "-", "--no-email", "--json", stdin=GOOD_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["password_choice"] == "set" and created["must_change_password"] is True
    assert created["email_queued"] is False
    [(stored, must_change)] = rows(db, "SELECT password_hash, must_change_password FROM users")
    assert str(stored).startswith("$argon2id$") and must_change == 1
    assert rows(db, "SELECT count(*) FROM outbox") == [(0,)]
    assert GOOD_PASSWORD not in result.stdout + result.stderr


def test_generated_password_is_printed_once_and_works(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    result = add(db, "--generate-password")
    assert result.returncode == 0, result.stderr
    assert "Added user 1: ann@acme.org (Ann Lee) as manager." in result.stdout
    lines = [line.strip() for line in result.stdout.splitlines()]
    credential = lines[lines.index(next(x for x in lines if x.startswith("One-time"))) + 1]
    assert result.stdout.count(credential) == 1
    [(stored,)] = rows(db, "SELECT password_hash FROM users")
    assert one_time_credential_matches(str(stored), credential)


def test_refusals_are_one_line_exit_2_and_write_nothing(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    invalid = add(db, email="ann@acme")
    assert invalid.returncode == 2
    assert invalid.stderr.startswith("usher: error: --email: ")
    assert invalid.stderr.count("\n") == 1
    weak = add(db, "--password", "password")
    assert weak.returncode == 2 and "--password: " in weak.stderr
    assert rows(db, "SELECT count(*) FROM users") == [(0,)]

    assert add(db, "--no-email").returncode == 0
    duplicate = add(db, "--generate-password", email="ANN@acme.org")
    assert duplicate.returncode == 2
    assert "already has an account (id 1)" in duplicate.stderr
    assert duplicate.stderr.count("\n") == 1 and duplicate.stdout == ""
    assert rows(db, "SELECT count(*) FROM users") == [(1,)]
    assert rows(db, "SELECT count(*) FROM audit WHERE action = 'user_added'") == [(1,)]

    both = add(db, "--password", GOOD_PASSWORD, "--generate-password", email="bob@acme.org")
    assert both.returncode == 2 and "not allowed with" in both.stderr
