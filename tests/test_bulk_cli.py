"""`usher users import` as a real process: JSON and dry-run output, exit codes, passwords from
stdin, and a kill -9 in the middle of hashing that leaves no account behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from store import Store, load_settings
from store.domain.passwords import Hasher
from store.domain.tokens import one_time_credential_matches

from .fixtures_bulk import password_for, people
from .helpers import ROOT, child_env, usher_command
from .helpers import run_usher as usher


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql).fetchall())


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_dry_run_prints_the_preview_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    file = write(tmp_path / "in.csv", "Ann Lee,ann@acme.org\nBob Stone,bob@acme\n\nann@acme.org\n")
    result = usher(
        "users", "import", str(file), "--level", "member", "--passwords", "random",
        "--db", str(db), "--dry-run", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert (report["created"], report["would_create"], report["skipped"]) == (0, 1, 2)
    assert [(e["line"], e["input"]) for e in report["errors"]] == [
        (2, "Bob Stone,bob@acme"),
        (4, "ann@acme.org"),
    ]
    assert "missing name" in report["errors"][1]["error"]
    assert "duplicate of line 1" in report["errors"][1]["error"]
    assert query(db, "SELECT count(*) FROM users") == [(0,)]
    text = usher(
        "users", "import", str(file), "--level", "member", "--passwords", "random",
        "--db", str(db), "--dry-run",
    )  # fmt: skip
    assert text.returncode == 0
    assert "Would create 1 of 3 accounts" in text.stdout
    assert "line 2: Bob Stone,bob@acme — invalid email" in text.stdout


def test_random_import_prints_each_credential_once_in_json(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    file = write(tmp_path / "in.csv", people(5) + "\nBad,bad\n")
    result = usher(
        "users", "import", str(file), "--level", "viewer", "--passwords", "random",
        "--db", str(db), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["created"], report["skipped"]) == (5, 1)
    assert report["errors"][0]["line"] == 6
    assert report["emails_queued"] == 5
    stored = dict(query(db, "SELECT email, password_hash FROM users"))
    assert len(report["credentials"]) == 5
    for item in report["credentials"]:
        assert one_time_credential_matches(stored[item["email"]], item["password"])
    assert query(db, "SELECT DISTINCT level, source FROM users") == [("viewer", "bulk")]


def test_one_password_for_all_from_stdin(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    file = write(tmp_path / "in.csv", people(3))
    shared = "spring cohort welcome"
    result = usher(
        "users", "import", str(file), "--level", "member", "--passwords", "same",
        "--password-file", "-", "--db", str(db), "--no-email",
        stdin=shared + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "3 of 3 created" in result.stdout
    hashes = {row[0] for row in query(db, "SELECT password_hash FROM users")}
    assert len(hashes) == 1
    assert query(db, "SELECT count(*) FROM outbox") == [(0,)]
    assert shared not in result.stdout + result.stderr


def test_nothing_valid_is_exit_2_with_line_numbered_errors(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    file = write(tmp_path / "in.csv", "Ann Lee\n\nBob,bob@acme\n")
    result = usher(
        "users", "import", str(file), "--level", "member", "--passwords", "random",
        "--db", str(db),
    )  # fmt: skip
    assert result.returncode == 2
    assert "nothing valid to import" in result.stderr
    assert "line 1: Ann Lee — missing email address" in result.stderr
    assert "line 3: Bob,bob@acme — invalid email" in result.stderr
    assert result.stdout == ""
    as_json = usher(
        "users", "import", str(file), "--level", "member", "--passwords", "random",
        "--db", str(db), "--json",
    )  # fmt: skip
    assert as_json.returncode == 2
    report = json.loads(as_json.stdout)
    assert report["created"] == 0
    assert [e["line"] for e in report["errors"]] == [1, 3]


def test_bad_flags_are_one_line_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "u.db")
    file = str(write(tmp_path / "in.csv", people(2)))
    cases = [
        (["--passwords", "random", "--password", "x y z w v"], "--passwords same only"),
        (["--passwords", "same"], "needs --password-file"),
        (["--passwords", "same", "--password", "short"], "refused"),
    ]
    for extra, message in cases:
        result = usher("users", "import", file, "--level", "member", "--db", db, *extra)
        assert result.returncode == 2, extra
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    missing = usher(
        "users", "import", str(tmp_path / "nope.csv"), "--level", "member",
        "--passwords", "random", "--db", db,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


def test_kill_during_hashing_leaves_no_account_and_a_rerun_creates_each_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "u.db"
    count = 200
    file = write(tmp_path / "in.csv", people(count, passwords=True))
    args = usher_command(
        "users", "import", str(file), "--level", "member", "--passwords", "given",
        "--db", str(db), "--json",
    )  # fmt: skip
    proc = subprocess.Popen(
        args, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the first progress line: hashing has begun
        assert "passwords hashed" in line, line
        done = int(line.split()[1].replace(",", ""))
        assert 0 < done < count
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    for table in ("users", "outbox", "audit", "action_tokens"):
        assert query(db, f"SELECT count(*) FROM {table}") == [(0,)], table  # noqa: S608
    assert query(db, "PRAGMA integrity_check") == [("ok",)]

    rerun = usher(
        "users", "import", str(file), "--level", "member", "--passwords", "given",
        "--db", str(db), "--json", timeout=120,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["created"] == count
    assert query(db, "SELECT count(*), count(DISTINCT email) FROM users") == [(count, count)]
    assert query(db, "SELECT count(*) FROM outbox") == [(count,)]
    sample = query(db, "SELECT email, password_hash FROM users WHERE id IN (1, 100, 200)")

    async def verify() -> None:
        settings = load_settings({"db": str(db)}, environ={})
        async with await Store.open(settings, hasher=Hasher(), watch=False) as store:
            for email, stored in sample:
                i = int(str(email).removeprefix("user").split("@")[0])
                assert await store.hasher.verify(stored, password_for(i))

    asyncio.run(verify())

    again = usher(
        "users", "import", str(file), "--level", "member", "--passwords", "given",
        "--db", str(db), "--json",
    )  # fmt: skip
    assert again.returncode == 0
    report = json.loads(again.stdout)
    assert (report["created"], report["skipped"]) == (0, count)
    assert query(db, "SELECT count(*) FROM users") == [(count,)]
