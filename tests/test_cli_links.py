"""`usher links create|list|revoke` run as real processes on a real database file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .helpers import run_usher as usher


def test_create_list_and_revoke(tmp_path: Path) -> None:
    db = str(tmp_path / "usher.db")
    made = usher(
        "links", "create", "--db", db, "--level", "member", "--label", "Spring cohort",
        "--max-uses", "50", "--expires", "2w", "--domains", "acme.org,*.acme.org",
        "--require-approval", "--public-url", "https://join.acme.org",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    url = made.stdout.strip()
    assert url.startswith("https://join.acme.org/join/") and len(url) > 60
    assert "no SMTP server is configured" in made.stderr  # confirmation is on by default

    piped = usher(
        "links", "create", "--db", db, "--level", "viewer", "--password-file", "-",
        "--no-confirm", "--expires", "never", "--json",
        stdin="open sesame\n", USHER_PUBLIC_URL="https://join.acme.org",
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    created = json.loads(piped.stdout)
    assert created["url"].startswith("https://join.acme.org/join/")
    assert created["url"].endswith(created["token"])
    assert created["has_password"] is True
    assert created["confirm_email"] is False and created["auto_accept"] is True
    assert created["expires_at"] is None and created["state"] == "active"
    assert created["level"] == "viewer"
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT password_hash FROM invite_links WHERE id = 2").fetchone()[0]
    assert stored.startswith("$argon2id$") and "open sesame" not in stored

    listed = usher("links", "list", "--db", db, "--json", USHER_PUBLIC_URL="https://join.acme.org")
    assert listed.returncode == 0, listed.stderr
    links = json.loads(listed.stdout)
    assert [link["id"] for link in links] == [2, 1]
    first = links[1]
    assert first["url"] == url
    assert first["summary"] == "0 of 50 uses · expires in 14 days"
    assert (first["auto_accept"], first["domains"]) == (False, ["acme.org", "*.acme.org"])

    revoked = usher("links", "revoke", "--db", db, "1")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked link #1" in revoked.stdout
    again = usher("links", "revoke", "--db", db, "1")
    assert again.returncode == 2
    assert again.stderr.strip() == "usher: error: link #1 is already revoked"

    table = usher("links", "list", "--db", db)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATE", "LEVEL", "LANG", "MODE", "USES", "EXPIRES", "LABEL"]
    assert any(line.startswith("1   revoked") and "Spring cohort" in line for line in lines)


def test_refusals_are_one_line_and_exit_2(tmp_path: Path) -> None:
    db = str(tmp_path / "usher.db")
    for args, words in [
        (["--level", "owner"], "level 'owner' is not one of"),
        (["--level", "member", "--expires", "soon"], "not understood"),
        (["--level", "member", "--max-uses", "0"], "max uses"),
        (["--level", "member", "--domains", "*.*"], "domain"),
        (["--level", "member", "--password-file", str(tmp_path / "missing")], "cannot read"),
    ]:
        result = usher("links", "create", "--db", db, *args)
        assert result.returncode == 2, args
        assert words in result.stderr
        assert "Traceback" not in result.stderr
    assert not Path(db).exists()  # refused before anything was opened or written
    bad_id = usher("links", "revoke", "--db", db, "one")
    assert bad_id.returncode == 2 and "must be a number" in bad_id.stderr
