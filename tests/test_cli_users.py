"""`usher users list|approve|reject` as real processes, with --json."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from store import Store, load_settings

from .fixtures_users import add_link, add_users, audit_actions, outbox_rows, status_of, user_row
from .helpers import run_usher


def usher(db: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_usher(
        *args,
        "--db",
        str(db),
        variables={"USER": "carol", "SSH_CONNECTION": "198.51.100.4 5555 10.0.0.1 22", **env},
    )


def seed(db: Path) -> None:
    async def write() -> None:
        settings = load_settings({"db": str(db)}, environ={})
        async with await Store.open(settings, watch=False) as store:
            link = await add_link(store, "Spring cohort")
            await add_users(
                store,
                [
                    user_row("ann@acme.org", first="Ann", status="active", source="single",
                             age=timedelta(days=3)),
                    user_row("bob@acme.org", first="Bob", link_id=link, age=timedelta(days=2)),
                    user_row("cy@acme.org", first="Cy", link_id=link, age=timedelta(days=1)),
                    user_row("di@acme.org", first="Di", link_id=link),
                ],
            )  # fmt: skip

    asyncio.run(write())


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_list_filters_limits_and_prints_json(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    seed(db)
    everyone = as_json(usher(db, "users", "list", "--json"))
    assert [u["email"] for u in everyone] == [
        "di@acme.org",
        "cy@acme.org",
        "bob@acme.org",
        "ann@acme.org",
    ]
    assert {"id", "email", "status", "level", "created_at", "link"} <= set(everyone[0])
    assert everyone[0]["link"] == "Spring cohort"
    assert everyone[0]["created_at"].endswith("Z")
    pending = as_json(usher(db, "users", "list", "--status", "pending", "--limit", "2", "--json"))
    assert [u["email"] for u in pending] == ["di@acme.org", "cy@acme.org"]
    table = usher(db, "users", "list", "--status", "active")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == [
        "ID", "EMAIL", "NAME", "LEVEL", "STATUS", "VIA", "CREATED", "(UTC)",
    ]  # fmt: skip
    assert "ann@acme.org" in table.stdout and "bob@acme.org" not in table.stdout
    bad = usher(db, "users", "list", "--status", "sleeping")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_approve_by_email_and_id_then_again_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    seed(db)
    listed = as_json(usher(db, "users", "list", "--status", "pending", "--json"))
    cy = next(u["id"] for u in listed if u["email"] == "cy@acme.org")
    outcome = as_json(usher(db, "users", "approve", "BOB@acme.org", str(cy), "--json"))
    assert [u["email"] for u in outcome["approved"]] == ["bob@acme.org", "cy@acme.org"]
    assert outcome["already_decided"] == [] and outcome["not_found"] == []
    assert status_of(db, "bob@acme.org") == "active"
    assert sorted(m["recipient"] for m in outbox_rows(db, "approved")) == [
        "bob@acme.org",
        "cy@acme.org",
    ]
    assert ("carol (ssh 198.51.100.4)", "user_approved", "bob@acme.org") in audit_actions(db)

    again = usher(db, "users", "approve", "bob@acme.org", "nobody@acme.org")
    assert again.returncode == 2
    assert (
        "usher: bob@acme.org was already approved by carol (ssh 198.51.100.4): nothing sent"
        in again.stderr
    )
    assert "no user 'nobody@acme.org'" in again.stderr
    assert "Traceback" not in again.stderr
    assert len(outbox_rows(db, "approved")) == 2

    rest = as_json(usher(db, "users", "approve", "--all-pending", "--json"))
    assert [u["email"] for u in rest["approved"]] == ["di@acme.org"]
    none_left = usher(db, "users", "approve", "--all-pending")
    assert none_left.returncode == 0 and "No one is pending" in none_left.stdout
    assert usher(db, "users", "approve").returncode == 2


def test_reject_with_reason(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    seed(db)
    outcome = as_json(
        usher(db, "users", "reject", "di@acme.org", "--reason", "Not staff", "--json")
    )
    assert [u["status"] for u in outcome["rejected"]] == ["rejected"]
    (mail,) = outbox_rows(db, "rejected")
    assert mail["recipient"] == "di@acme.org"
    assert mail["payload"]["reason"] == "Not staff"
    assert status_of(db, "di@acme.org") == "rejected"
    plain = usher(db, "users", "reject", "cy@acme.org")
    assert plain.returncode == 0
    assert "rejected" in plain.stdout and "cy@acme.org" in plain.stdout
    again = usher(db, "users", "reject", "CY@acme.org")
    assert again.returncode == 2
    assert (
        "usher: cy@acme.org was already rejected by carol (ssh 198.51.100.4): nothing sent"
        in again.stderr
    )
    assert len(outbox_rows(db, "rejected")) == 2


def test_partly_done_is_success_and_nothing_done_is_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    seed(db)
    mixed = usher(db, "users", "approve", "ann@acme.org", "bob@acme.org", "--json")
    assert mixed.returncode == 0, mixed.stderr  # bob was approved: the command did its work
    outcome = json.loads(mixed.stdout)
    assert [u["email"] for u in outcome["approved"]] == ["bob@acme.org"]
    assert [(u["email"], u["status"]) for u in outcome["already_decided"]] == [
        ("ann@acme.org", "active")
    ]
    assert "usher: ann@acme.org is no longer pending (now active): nothing sent" in mixed.stderr

    refused = usher(db, "users", "reject", "bob@acme.org", "404", "--json")
    assert refused.returncode == 2
    assert json.loads(refused.stdout) == {
        "rejected": [],
        "already_decided": [
            {
                "id": outcome["approved"][0]["id"],
                "email": "bob@acme.org",
                "status": "active",
                "decided_by": "carol (ssh 198.51.100.4)",
            }
        ],
        "not_found": ["404"],
    }
    assert "no user '404'" in refused.stderr and "Traceback" not in refused.stderr
    assert (
        "usher: bob@acme.org was already approved by carol (ssh 198.51.100.4): nothing sent"
        in refused.stderr
    )
    assert status_of(db, "bob@acme.org") == "active"
    assert outbox_rows(db, "rejected") == []
    assert [m["recipient"] for m in outbox_rows(db, "approved")] == ["bob@acme.org"]


def test_decisions_are_audited_with_the_os_user_without_ssh(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    seed(db)
    result = usher(db, "users", "reject", "cy@acme.org", SSH_CONNECTION="", SUDO_USER="dave")
    assert result.returncode == 0, result.stderr
    assert ("dave", "user_rejected", "cy@acme.org") in audit_actions(db)
