"""`usher admins add|list|remove|set-role` (issue 23), as a real process on a real file."""

from __future__ import annotations

import json
from pathlib import Path

from .fixtures_ssh import new_key, public_line, write_public
from .helpers import run_usher


def test_admins_add_list_set_role_remove(tmp_path: Path) -> None:
    db = str(tmp_path / "u.db")
    ann, bob = new_key("ann@laptop"), new_key()
    added = run_usher(
        "admins", "add", "ann", "--key", str(write_public(ann, tmp_path / "a.pub")),
        "--role", "owner", "--db", db,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert ann.get_fingerprint("sha256") in added.stdout
    piped = run_usher(
        "admins", "add", "bob", "--key", "-", "--role", "approver", "--db", db,
        stdin=public_line(bob),
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr

    listed = run_usher("admins", "list", "--json", "--db", db)
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"], r["fingerprint"]) for r in rows] == [
        ("ann", "owner", ann.get_fingerprint("sha256")),
        ("bob", "approver", bob.get_fingerprint("sha256")),
    ]
    assert rows[0]["created_by"]

    assert run_usher("admins", "set-role", "bob", "manager", "--db", db).returncode == 0
    assert run_usher("admins", "remove", "ann", "--db", db).returncode == 0
    plain = run_usher("admins", "list", "--db", db).stdout
    assert "bob" in plain and "manager" in plain and "ann" not in plain


def test_bad_keys_duplicates_and_unknown_names_exit_2_with_a_clear_error(tmp_path: Path) -> None:
    db = str(tmp_path / "u.db")
    key = write_public(new_key(), tmp_path / "k.pub")
    ok = run_usher("admins", "add", "ann", "--key", str(key), "--role", "manager", "--db", db)
    assert ok.returncode == 0, ok.stderr
    again = run_usher("admins", "add", "ann", "--key", "-", "--role", "owner", "--db", db,
                      stdin=public_line(new_key()))  # fmt: skip
    assert again.returncode == 2
    assert "already an admin named 'ann'" in again.stderr
    bad = run_usher("admins", "add", "cy", "--key", "-", "--role", "owner", "--db", db,
                    stdin="ssh-rsa nonsense")  # fmt: skip
    assert bad.returncode == 2 and "not an OpenSSH public key" in bad.stderr
    missing = run_usher("admins", "add", "cy", "--key", str(tmp_path / "nope.pub"),
                        "--role", "owner", "--db", db)  # fmt: skip
    assert missing.returncode == 2 and "cannot read the key" in missing.stderr
    gone = run_usher("admins", "remove", "zed", "--db", db)
    assert gone.returncode == 2 and "no admin named 'zed'" in gone.stderr
    assert "Traceback" not in again.stderr + bad.stderr + missing.stderr + gone.stderr
