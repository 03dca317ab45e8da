"""The store's foundation on a real SQLite file: migrations, file mode, the change feed across
processes, hashing off the loop, tokens and settings."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from store import Settings, SettingsError, Store, StoreError, load_settings
from store.database.changes import EXTERNAL
from store.database.engine import Engine
from store.database.migrations import LATEST_VERSION, MIGRATIONS, migrate
from store.domain.clock import db_now
from store.domain.passwords import Hasher, PasswordRejected, check_password, password_problem
from store.domain.tokens import (
    new_one_time_credential,
    new_token,
    one_time_credential_hash,
    one_time_credential_matches,
    token_digest,
)

from .helpers import ROOT
from .work_counters import PollCounter, pending, watch_counting


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(row[0]) for row in rows}


async def test_new_database_gets_latest_schema_with_private_mode(store: Store) -> None:
    path = Path(store.path)
    assert {"users", "invite_links", "invitations", "outbox", "audit", "meta"} <= tables(path)
    assert await store.engine.user_version() == LATEST_VERSION
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await store.engine.scalar("PRAGMA journal_mode") == "wal"
    assert await store.engine.scalar("PRAGMA foreign_keys") == 1


async def test_migrations_are_idempotent(settings: Settings) -> None:
    first = await Store.open(settings)
    key = await first.secret_key()
    await first.close()
    engine = await Engine.open(settings.db)
    try:
        assert await migrate(engine) == []
    finally:
        await engine.close()
    again = await Store.open(settings)
    assert await again.secret_key() == key, "reopening must not mint a new secret"
    await again.close()


async def test_older_schema_is_upgraded_keeping_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE legacy (x INTEGER)")
        conn.execute("INSERT INTO legacy VALUES (42)")
    settings = load_settings({"db": str(path)}, environ={})
    async with await Store.open(settings) as store:
        assert await store.engine.user_version() == LATEST_VERSION
        assert await store.engine.scalar("SELECT x FROM legacy") == 42


async def test_two_processes_migrating_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    script = (
        "import asyncio, sys\n"
        "from store import Store, load_settings\n"
        "async def main():\n"
        "    s = load_settings({'db': sys.argv[1]}, environ={})\n"
        "    st = await Store.open(s, watch=False)\n"
        "    await st.close()\n"
        "asyncio.run(main())\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=ROOT) for _ in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert conn.execute("SELECT count(*) FROM meta WHERE key='secret_key'").fetchone()[0] == 1


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this Usher"):
        await Store.open(load_settings({"db": str(path)}, environ={}))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing-folder" / "usher.db", "does not exist"),
        (lambda p: p, "is a folder"),
    ],
)
async def test_unusable_paths_are_one_line_errors(tmp_path: Path, make, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreError, match=message):
        await Store.open(load_settings({"db": str(make(tmp_path))}, environ={}))


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(StoreError, match="not a database"):
        await Store.open(load_settings({"db": str(path)}, environ={}))


async def test_failed_transaction_writes_nothing_and_announces_nothing(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        polls = watch_counting(store)
        await failed_transaction_announces_nothing(store, polls)


async def failed_transaction_announces_nothing(store: Store, polls: PollCounter) -> None:
    subscription = store.feed.subscribe()
    with pytest.raises(RuntimeError):
        async with store.write("users") as tx:
            await tx.execute(
                "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
                "VALUES ('a@example.org', 'a@example.org', 'member', 'active', ?, ?)",
                (db_now(), db_now()),
            )
            raise RuntimeError("boom")
    assert await store.engine.scalar("SELECT count(*) FROM users") == 0
    await polls.more(3)
    assert pending(subscription) == frozenset()


async def insert_pending(store: Store, email: str) -> None:
    async with store.write("users") as tx:
        await tx.execute(
            "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
            "VALUES (?1, lower(?1), 'member', 'pending', ?2, ?3)",
            (email, db_now(), db_now()),
        )


async def test_change_feed_hears_own_commit_at_once(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:  # no poller: in-process only
        async with store.feed.listening() as changes:
            await insert_pending(store, "b@example.org")
            assert pending(changes) == {"users"}, "announced by the commit itself"
            topics = await asyncio.wait_for(changes.__anext__(), 30)
        assert topics == {"users"}
        counts = await store.counts()
    assert counts.pending == 1


async def test_own_commit_is_announced_once_never_echoed_by_the_poller(settings: Settings) -> None:
    """The poller must not report this process's own commits back as another process's: that
    emptied the read cache and made every screen refresh everything a second time."""
    async with await Store.open(settings, watch=False) as store:
        polls = watch_counting(store)
        await polls.more(1)
        async with store.feed.listening() as changes:
            for i in range(3):
                await insert_pending(store, f"own{i}@example.org")
                assert await asyncio.wait_for(changes.__anext__(), 30) == {"users"}
                await polls.more(3)
                assert pending(changes) == frozenset()


async def test_another_process_s_commit_is_announced_exactly_once(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        polls = watch_counting(store)
        await polls.more(1)
        async with store.feed.listening() as changes:
            with sqlite3.connect(settings.db, isolation_level=None) as other:
                other.execute(
                    "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
                    "VALUES ('x@example.org', 'x@example.org', 'member', 'pending', ?, ?)",
                    (db_now(), db_now()),
                )
            other.close()
            assert await asyncio.wait_for(changes.__anext__(), 30) == {EXTERNAL}
            await polls.more(3)
            assert pending(changes) == frozenset()


async def test_change_feed_sees_a_commit_made_by_a_second_process(store: Store) -> None:
    script = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1])\n"
        'c.execute("INSERT INTO users (email, email_key, level, status, created_at, updated_at) '
        "VALUES ('other@example.org', 'other@example.org', 'member', 'pending', "
        "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')\")\n"
        "c.commit()\n"
    )
    async with store.feed.listening() as changes:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, store.path)
        assert await proc.wait() == 0
        topics = await asyncio.wait_for(changes.__anext__(), 2)
    assert EXTERNAL in topics
    assert (await store.counts()).pending == 1


async def test_hashing_runs_off_the_event_loop(store: Store) -> None:
    """Counted, not timed: a hash done on the loop would finish within the task's first step
    (one turn of the loop); one done in a thread needs at least two more turns to report back
    (the thread's call_soon_threadsafe, then the task's wake-up), whatever the machine's load."""
    hasher = Hasher()
    hashes = await asyncio.gather(*(hasher.hash(f"correct horse {i}") for i in range(4)))
    assert all(h.startswith("$argon2id$") for h in hashes)
    one = asyncio.create_task(hasher.hash("correct horse"))
    turns = 0
    while not one.done():
        await asyncio.sleep(0)
        turns += 1
    assert turns >= 2, "the loop kept turning while a hash ran"
    assert await hasher.verify(hashes[0], "correct horse 0")
    assert not await hasher.verify(hashes[0], "correct horse 1")
    assert not hasher.needs_rehash(hashes[0])
    assert Hasher(time_cost=3).needs_rehash(hashes[0])


def test_password_policy() -> None:
    assert password_problem("short") is not None
    assert password_problem("x" * 129) is not None
    assert password_problem("password123") is not None
    assert password_problem("ann@example.org", email="ann@example.org") is not None
    assert password_problem("correct horse battery staple") is None
    fullwidth = "\uff43\uff4f\uff52\uff52\uff45\uff43\uff54 horse battery"
    assert check_password(fullwidth) == "correct horse battery"
    with pytest.raises(PasswordRejected):
        check_password("qwertyuiop")


def test_tokens_have_enough_entropy_and_digest_stably() -> None:
    token = new_token()
    assert len(token) >= 43  # 32 bytes in URL-safe base64
    assert token != new_token()
    assert token_digest(token) == token_digest(token)
    assert len(token_digest(token)) == 64
    credential = new_one_time_credential()
    assert len(credential.replace("-", "")) == 26
    stored = one_time_credential_hash(credential)
    assert one_time_credential_matches(stored, credential.lower().replace("-", " "))
    assert not one_time_credential_matches(stored, new_one_time_credential())


def test_settings_precedence_and_errors() -> None:
    env = {"USHER_PORT": "9000", "USHER_ORG": "Acme", "USHER_NOTIFY": "a@x.org, b@x.org"}
    settings = load_settings({"port": 9100}, environ=env)
    assert settings.port == 9100
    assert settings.org == "Acme"
    assert settings.notify == ["a@x.org", "b@x.org"]
    assert settings.base_url == "http://127.0.0.1:9100"
    assert load_settings({}, environ=env).port == 9000
    with pytest.raises(SettingsError, match="port"):
        load_settings({}, environ={"USHER_PORT": "eighty"})
    with pytest.raises(SettingsError, match="public_url is required"):
        load_settings({"host": "0.0.0.0"}, environ={})  # noqa: S104
    assert load_settings({"public_url": "https://join.acme.org/"}, environ={}).is_https


def test_database_file_is_private_even_with_a_lax_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:

        async def open_and_close() -> None:
            async with await Store.open(load_settings({"db": str(tmp_path / "u.db")}, environ={})):
                pass

        asyncio.run(open_and_close())
    finally:
        os.umask(old)
    for name in os.listdir(tmp_path):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_migration_list_is_ordered() -> None:
    versions = [version for version, _ in MIGRATIONS]
    assert versions == sorted(set(versions))


def test_addresses_are_validated_without_dns() -> None:
    from store.domain.addresses import AddressProblem, address_key, normalise_address

    assert normalise_address("  Ann@Example.ORG ") == "Ann@example.org"
    assert normalise_address("x@bücher.de") == "x@bücher.de"
    assert address_key("Ann@example.org") == address_key("ann@EXAMPLE.org")
    for bad, reason in [
        ("bob@@acme.org", "invalid characters"),
        ("bob@acme", "period"),
        ("", "empty"),
    ]:
        with pytest.raises(AddressProblem, match=reason):
            normalise_address(bad)


async def test_hash_all_hashes_every_password_in_order_on_its_own_threads() -> None:
    hasher = Hasher()
    passwords = [f"correct horse battery {i}" for i in range(6)]
    reported: list[int] = []
    hashes = await hasher.hash_all(passwords, progress=reported.append)
    assert sum(reported) == len(passwords) == hasher.calls
    for password, hashed in zip(passwords, hashes, strict=True):
        assert hashed is not None and await hasher.verify(hashed, password)


async def test_hash_all_stops_before_the_next_hash_when_asked() -> None:
    hasher = Hasher()
    hashes = await hasher.hash_all(
        [f"correct horse battery {i}" for i in range(40)], should_stop=lambda: hasher.calls >= 3
    )
    done = [hashed for hashed in hashes if hashed is not None]
    assert 3 <= len(done) < 40 and hasher.calls == len(done)


def test_migration_versions_only_ever_grow() -> None:
    """A database at version N applies only steps above N: a step numbered below an existing
    one (two branches each taking a number) would never reach a database already past it."""
    from store.database.migrations import LATEST_VERSION, MIGRATIONS

    versions = [version for version, _ in MIGRATIONS]
    assert versions == sorted(set(versions))
    assert versions[-1] == LATEST_VERSION
