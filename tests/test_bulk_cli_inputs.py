"""`usher users import` reads what the Bulk screen reads — a header row, quoted CSV fields,
tab-separated spreadsheet rows, standard input — and reports accounts that already exist
(also in a dry run) without re-creating them; `--json` has the shape DESIGN.md promises."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .helpers import run_usher as usher

EXISTS = "already exists: an account with this address exists"


def users(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(
            conn.execute("SELECT email, first_name, last_name, level FROM users ORDER BY email")
        )


def test_header_quotes_and_tabs_from_stdin_with_the_json_shape(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    text = (
        "Email,Last name,First name,Department\r\n"
        'ann@acme.org,"Lee, Jr.",Ann,Sales\r\n'
        "bob@acme.org,Stone,Bob,Ops\r\n"
        "cy@acme,Young,Cy,Ops\r\n"
        "dee@acme.org\tKay\tDee\tOps\r\n"
    )
    result = usher(
        "users", "import", "-", "--level", "viewer", "--passwords", "random",
        "--db", str(db), "--json", stdin=text,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["created"], report["skipped"]) == (3, 1)
    assert report["errors"] == [
        {"line": 4, "input": "cy@acme,Young,Cy,Ops", "error": report["errors"][0]["error"]}
    ]
    assert report["errors"][0]["error"].startswith("invalid email")
    assert all(set(entry) == {"line", "input", "error"} for entry in report["errors"])
    assert [(u["line"], u["email"]) for u in report["users"]] == [
        (2, "ann@acme.org"),
        (3, "bob@acme.org"),
        (5, "dee@acme.org"),
    ]
    assert all(isinstance(u["id"], int) for u in report["users"])
    assert len(report["credentials"]) == 3
    assert users(db) == [
        ("ann@acme.org", "Ann", "Lee, Jr.", "viewer"),
        ("bob@acme.org", "Bob", "Stone", "viewer"),
        ("dee@acme.org", "Dee", "Kay", "viewer"),
    ]


def test_existing_accounts_are_reported_in_a_dry_run_and_never_recreated(
    tmp_path: Path,
) -> None:
    db = tmp_path / "u.db"
    first = tmp_path / "first.csv"
    first.write_text("Ann Lee,ann@acme.org\n", encoding="utf-8")
    created = usher(
        "users", "import", str(first), "--level", "member", "--passwords", "random",
        "--db", str(db), "--no-email",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "1 of 1 created" in created.stdout

    both = tmp_path / "both.csv"
    both.write_text("Ann Lee,ANN@acme.org\nBob Stone,bob@acme.org\n", encoding="utf-8")
    dry = usher(
        "users", "import", str(both), "--level", "member", "--passwords", "random",
        "--db", str(db), "--dry-run", "--json",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    preview = json.loads(dry.stdout)
    assert (preview["would_create"], preview["skipped"]) == (1, 1)
    assert preview["errors"] == [{"line": 1, "input": "Ann Lee,ANN@acme.org", "error": EXISTS}]
    assert [row[0] for row in users(db)] == ["ann@acme.org"]

    real = usher(
        "users", "import", str(both), "--level", "member", "--passwords", "random",
        "--db", str(db),
    )  # fmt: skip
    assert real.returncode == 0, real.stderr
    assert "1 of 2 created" in real.stdout
    assert f"line 1: Ann Lee,ANN@acme.org — {EXISTS}" in real.stdout
    assert [row[0] for row in users(db)] == ["ann@acme.org", "bob@acme.org"]

    # Everything exists now: nothing to do is still not an error (the input was fine).
    again = usher(
        "users", "import", str(both), "--level", "member", "--passwords", "random",
        "--db", str(db), "--json",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["created"] == 0
    assert len(users(db)) == 2
