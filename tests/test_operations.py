"""Operators' tools on real files: online backup, restore, housekeeping with a moved clock."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from store import Settings, Store
from store.database.backup import BackupError, inspect, restore
from store.database.instance_lock import DatabaseInUse
from store.domain.addresses import address_key
from store.domain.clock import now, to_db
from store.service.housekeeping import run_housekeeping

from .helpers import ROOT, child_env, eventually, run_usher


async def add_user(store: Store, email: str, status: str = "active", **extra: object) -> int:
    columns: dict[str, object] = {"email": email, "email_key": address_key(email)}
    columns.update(level="member", status=status, **extra)
    columns.setdefault("created_at", to_db(now()))
    columns.setdefault("updated_at", columns["created_at"])
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    async with store.write("users") as tx:
        sql = f"INSERT INTO users ({names}) VALUES ({marks})"  # noqa: S608 - test's own names
        return await tx.execute(sql, list(columns.values()))


BURST = """
import asyncio, sys
from store import Store, load_settings
from store.onboarding.links import LinkDraft, create_link
from store.domain.passwords import Hasher
from store.onboarding.signup import SignupForm, sign_up_by_link

async def main() -> None:
    settings = load_settings({"db": sys.argv[1]}, environ={})
    async with await Store.open(settings, hasher=Hasher(time_cost=1, memory_kib=8)) as store:
        link = await create_link(store, LinkDraft(confirm_email=False), actor="burst")
        for i in range(100_000):
            email = f"burst{i}@example.org"
            password = "correct horse battery staple"
            form = SignupForm(email=email, first_name="B", last_name=str(i),
                              password=password, password_confirm=password)
            await sign_up_by_link(store, link.token, form, actor="burst")
            print(email, flush=True)  # committed: sign_up_by_link returned

asyncio.run(main())
"""
"""Signs people up through an invite link, one transaction each, as fast as it can, printing
each address once its account is committed, until it is killed."""


async def test_backup_during_a_burst_of_signups_holds_every_committed_account(
    store: Store, tmp_path: Path
) -> None:
    """Another process signs people up while we back up: the copy holds every account committed
    before the backup began, and is consistent (a prefix of the commit order, no gaps)."""
    burst = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BURST,
        store.path,
        cwd=ROOT,
        env=child_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    committed: list[str] = []

    async def read() -> None:
        assert burst.stdout is not None
        async for line in burst.stdout:
            committed.append(line.decode().strip())

    reader = asyncio.create_task(read())
    try:
        await eventually(lambda: _at_least(committed, 20), timeout=30)
        before = list(committed)
        report = await store.backup(str(tmp_path / "backup.db"))
        after_backup = len(committed)
        # The burst goes on after the copy: it really was taken in the middle of it.
        await eventually(lambda: _at_least(committed, after_backup + 5), timeout=30)
    finally:
        burst.kill()
        await burst.wait()
        await reader
    assert stat.S_IMODE(Path(report.path).stat().st_mode) == 0o600
    with sqlite3.connect(report.path) as conn:
        emails = [row[0] for row in conn.execute("SELECT email FROM users ORDER BY id")]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        uses = conn.execute("SELECT uses FROM invite_links").fetchone()[0]
    conn.close()
    assert set(before) <= set(emails), "every account committed before the backup is in it"
    assert emails == committed[: len(emails)], "the copy is one moment of the commit order"
    assert len(emails) < len(committed)
    assert uses == len(emails) == report.users


async def _at_least(items: list[str], count: int) -> bool:
    return len(items) >= count


async def test_backup_refuses_to_overwrite(store: Store, tmp_path: Path) -> None:
    existing = tmp_path / "exists.db"
    existing.write_text("precious")
    with pytest.raises(BackupError, match="already exists"):
        await store.backup(str(existing))
    assert existing.read_text() == "precious"


async def test_restore_round_trip_keeps_the_current_file_aside(
    settings: Settings, tmp_path: Path
) -> None:
    async with await Store.open(settings, watch=False) as store:
        await add_user(store, "kept@example.org")
        await store.backup(str(tmp_path / "b.db"))
        await add_user(store, "later@example.org")
        with pytest.raises(DatabaseInUse):
            restore(settings, str(tmp_path / "b.db"))
    aside = restore(settings, str(tmp_path / "b.db"))
    async with await Store.open(settings, watch=False) as store:
        emails = {row["email"] for row in await store.engine.fetchall("SELECT email FROM users")}
    assert emails == {"kept@example.org"}
    with sqlite3.connect(aside) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2
    assert stat.S_IMODE(Path(settings.db).stat().st_mode) == 0o600


def test_restore_checks_the_file(settings: Settings, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"nope" * 1000)
    with pytest.raises(BackupError, match="not an Usher database"):
        restore(settings, str(junk))
    future = tmp_path / "future.db"
    with sqlite3.connect(future) as conn:
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(BackupError, match="newer than this Usher"):
        inspect(future)


async def test_housekeeping_removes_aged_rows_only(store: Store) -> None:
    old = to_db(now() - timedelta(hours=30))
    async with store.write("invite_links") as tx:
        link = await tx.execute(
            "INSERT INTO invite_links (token, level, uses, created_at) "
            "VALUES ('t', 'member', 2, ?)",
            (old,),
        )
    stale = await add_user(store, "stale@example.org", "unconfirmed", link_id=link, created_at=old)
    fresh = await add_user(store, "fresh@example.org", "unconfirmed", link_id=link)
    async with store.write("outbox", "action_tokens") as tx:
        for status, sent_at in [("sent", to_db(now() - timedelta(days=100))), ("failed", None)]:
            await tx.execute(
                "INSERT INTO outbox (recipient, kind, status, next_attempt_at, message_id, "
                "created_at, sent_at) VALUES ('a@b.org', 'test', ?, ?, ?, ?, ?)",
                (status, old, f"<{status}@x>", to_db(now() - timedelta(days=100)), sent_at),
            )
        await tx.execute(
            "INSERT INTO action_tokens (token_hash, purpose, user_id, expires_at, created_at) "
            "VALUES ('h1', 'confirm_email', ?, ?, ?)",
            (fresh, to_db(now() + timedelta(hours=1)), old),
        )
    report = await run_housekeeping(store, now=now())
    assert report.unconfirmed_removed == 1
    assert report.link_uses_returned == 1
    assert report.sent_mail_purged == 1
    assert report.tokens_deleted == 0
    ids = {row["id"] for row in await store.engine.fetchall("SELECT id FROM users")}
    assert ids == {fresh}
    assert stale not in ids
    assert await store.engine.scalar("SELECT uses FROM invite_links") == 1
    assert await store.engine.scalar("SELECT status FROM outbox") == "failed"
    # Two hours later the fresh account's token has expired; a day later the account goes too.
    later = await run_housekeeping(store, now=now() + timedelta(hours=25))
    assert later.tokens_deleted == 1 and later.unconfirmed_removed == 1
    entry = await store.engine.fetchone("SELECT * FROM audit WHERE action = 'housekeeping'")
    assert entry is not None and "stale@example.org" not in entry["details"]


def test_backup_and_housekeeping_commands(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    done = run_usher("housekeeping", "--db", str(db))
    assert done.returncode == 0 and "sent messages purged" in done.stdout
    backup = run_usher("backup", str(tmp_path / "copy.db"), "--db", str(db))
    assert backup.returncode == 0, backup.stderr
    again = run_usher("backup", str(tmp_path / "copy.db"), "--db", str(db))
    assert again.returncode == 2 and "already exists" in again.stderr
    restored = run_usher("restore", str(tmp_path / "copy.db"), "--db", str(db))
    assert restored.returncode == 0 and "kept as" in restored.stdout
