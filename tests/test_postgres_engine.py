"""The PostgreSQL engine (issue 20): the throwaway server, the schema derived from the SQLite
migrations, the dialect, the change feed and claims across pools."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import psycopg
import pytest

from store import Settings, Store, StoreError, load_settings
from store.database.backup import BackupError, restore
from store.database.changes import EXTERNAL
from store.database.dialect import database_label, is_postgres_url, to_postgres
from store.database.engine import DatabaseUnavailable, temporarily_unavailable
from store.database.engine_postgres import POOL_SIZE, PostgresEngine
from store.database.schedule import runs_scheduled_work
from store.messaging.delivery import DeliveryPolicy, DeliveryWorker
from store.service.checks import run_checks

from .fixtures_postgres import PostgresServer, sync_run
from .fixtures_smtp import queue_messages, with_smtp
from .fixtures_users import INSERT_USER, add_user, user_row
from .helpers import eventually


def test_the_throwaway_server_gives_each_test_its_own_empty_database(
    postgres_server: PostgresServer, empty_postgres_url: str
) -> None:
    other = postgres_server.create_database()
    try:
        with psycopg.connect(empty_postgres_url) as conn:
            conn.execute("CREATE TABLE only_here (x integer)")
            conn.commit()
        with psycopg.connect(other) as conn:
            row = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_here'"
            ).fetchone()
        assert row == (0,)
    finally:
        postgres_server.drop_database(other)


async def test_a_store_opens_on_a_postgresql_url_and_writes_and_reads(
    empty_postgres_url: str,
) -> None:
    settings = load_settings({"db": empty_postgres_url}, environ={})
    async with await Store.open(settings) as store:
        assert len(await store.secret_key()) == 64
        async with store.write("t") as tx:
            first = await tx.execute(
                "INSERT INTO audit (at, actor, action) VALUES (?, ?, ?)", ("now", "me", "x")
            )
            row = await tx.fetchone("SELECT * FROM audit WHERE id = ?", (first,))
        assert row is not None and row["actor"] == "me" and row[2] == "me"
        assert await store.engine.scalar("SELECT count(*) FROM audit WHERE actor LIKE 'M%'") == 1
        assert await store.healthy()


async def test_both_engines_have_the_same_tables_columns_and_indexes(
    postgres_url: str, settings: Settings
) -> None:
    """The PostgreSQL schema is derived from the SQLite migrations: a migration that adds a
    table, a column or an index shows up on both, or this fails."""
    async with await Store.open(settings) as sqlite_store:
        tables = await sqlite_store.engine.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        on_sqlite = {
            str(t[0]): {
                str(c["name"])
                for c in await sqlite_store.engine.fetchall(f'PRAGMA table_info("{t[0]}")')
            }
            for t in tables
        }
        sqlite_indexes = {
            str(r[0])
            for r in await sqlite_store.engine.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    async with await Store.open(load_settings({"db": postgres_url}, environ={})) as pg_store:
        on_postgres: dict[str, set[str]] = {}
        for row in await pg_store.engine.fetchall(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        ):
            on_postgres.setdefault(str(row[0]), set()).add(str(row[1]))
        pg_indexes = {
            str(r[0])
            for r in await pg_store.engine.fetchall(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            )
        }
    assert on_postgres == on_sqlite
    assert "users" in on_postgres and "email_key" in on_postgres["users"]
    assert sqlite_indexes <= pg_indexes


async def test_a_later_migration_s_new_column_and_index_are_added_to_an_existing_database(
    postgres_url: str,
) -> None:
    """`prepare` completes a database made by an older Usher: here a column and an index are
    dropped as if they came from a newer migration, and opening again brings them back."""
    settings = load_settings({"db": postgres_url}, environ={})
    async with await Store.open(settings, watch=False) as store, store.write() as tx:
        await tx.execute("DROP INDEX client_events_at")
        await tx.execute("ALTER TABLE users DROP COLUMN password_expires_at")
    async with await Store.open(settings, watch=False) as store:
        columns = await store.engine.fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
        )
        assert "password_expires_at" in {str(c[0]) for c in columns}
        assert (
            await store.engine.scalar(
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'client_events_at'"
            )
            == 1
        )


def test_the_dialect_translates_what_differs_and_leaves_literals_alone() -> None:
    assert to_postgres("SELECT * FROM t WHERE a = ? AND b LIKE :b") == (
        'SELECT * FROM t WHERE a = %s AND b COLLATE "C" ILIKE %(b)s'
    )
    assert to_postgres("SELECT '?', 'a%' WHERE x = ?") == "SELECT '?', 'a%%' WHERE x = %s"
    assert to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?)") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING"
    )
    assert to_postgres(
        "INSERT INTO k (kind, count) VALUES (?, 1) "
        "ON CONFLICT (kind) DO UPDATE SET count = count + 1"
    ).endswith('DO UPDATE SET count = "k".count + 1')
    assert to_postgres("SELECT 1 FROM t WHERE name = ? COLLATE NOCASE") == (
        'SELECT 1 FROM t WHERE name = %s COLLATE "nocase"'
    )
    claim = to_postgres("UPDATE o SET s = 1 WHERE id IN (SELECT id FROM o WHERE s = 0 LIMIT ?)")
    assert claim.endswith("LIMIT NULLIF(%s, -1) FOR UPDATE SKIP LOCKED)")
    assert is_postgres_url("postgresql://u:p@db:5432/usher?sslmode=require")
    assert is_postgres_url("postgres://db/usher") and not is_postgres_url("./usher.db")


async def _listening(store: Store) -> PostgresEngine:
    engine = store.engine
    assert isinstance(engine, PostgresEngine)

    async def connected() -> bool:
        return engine.listening

    await eventually(connected)
    return engine


async def test_a_commit_on_one_server_reaches_another_s_change_feed(postgres_url: str) -> None:
    """Two stores on two pools, as two `usher serve` processes: one's commit is announced to
    the other through LISTEN/NOTIFY (waited for as the approvals table waits for it), and a
    store never hears its own commits a second time."""
    settings = load_settings({"db": postgres_url}, environ={})
    async with await Store.open(settings) as one, await Store.open(settings) as two:
        first, second = await _listening(one), await _listening(two)
        async with two.feed.listening() as changes:
            started = time.monotonic()
            await add_user(one, "ann@example.org")
            topics = await asyncio.wait_for(anext(changes), 10)
            took = time.monotonic() - started
        assert EXTERNAL in topics
        print(f"another server's commit reached the change feed in {took * 1000:.0f} ms")
        second.heard.clear()
        first.heard.clear()
        heard = await first.data_version()
        await add_user(two, "bea@example.org")
        await asyncio.wait_for(first.heard.wait(), 10)
        assert await first.data_version() == heard + 1  # two's commit; its own was no news
        cache = first.read_cache()
        assert cache is not None and cache == {}


async def test_the_listener_reconnects_by_itself_and_hears_again(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    settings = load_settings({"db": postgres_url}, environ={})
    async with await Store.open(settings) as one, await Store.open(settings) as two:
        await _listening(one)
        engine = await _listening(two)
        pid = engine.listener_pid
        engine.heard.clear()
        with postgres_server.admin() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # Back again, it counts one change (what it missed while away is unknown) ...
        await asyncio.wait_for(engine.heard.wait(), 10)
        assert engine.listener_pid != pid and engine.listening
        engine.heard.clear()
        # ... and hears the other server's commits as before.
        await add_user(one, "cy@example.org")
        await asyncio.wait_for(engine.heard.wait(), 10)


NO_RELAY = "smtp://127.0.0.1:9"
"""Messages are queued (not kept) with an SMTP URL; these tests only claim, never send."""


def _claimer(store: Store, name: str, batch: int = 4) -> DeliveryWorker:
    return DeliveryWorker(store, None, DeliveryPolicy(batch=batch), f"{name}:{os.getpid()}:x")


async def test_three_servers_claiming_at_once_take_each_message_once(postgres_url: str) -> None:
    """Three stores (three pools, as three `usher serve`) claim 60 messages in batches of 4 at
    the same time until none is left: every message is claimed by exactly one of them."""
    settings = with_smtp(load_settings({"db": postgres_url}, environ={}), NO_RELAY)
    stores = [await Store.open(settings, watch=False) for _ in range(3)]
    try:
        queued = await queue_messages(stores[0], [f"p{i}@example.org" for i in range(60)])
        claimed: dict[str, list[int]] = {}

        async def drain(store: Store, name: str) -> None:
            worker = _claimer(store, name)
            try:
                while batch := await worker.claim():
                    claimed.setdefault(name, []).extend(message.id for message in batch)
                    await asyncio.sleep(0)
            finally:
                worker.release_mark()

        await asyncio.gather(*(drain(s, f"server{n}") for n, s in enumerate(stores)))
        every = [i for ids in claimed.values() for i in ids]
        assert sorted(every) == sorted(queued)
        assert len(claimed) >= 2  # they really took turns
    finally:
        for store in stores:
            await store.close()


async def test_a_claim_skips_rows_another_connection_has_locked(postgres_url: str) -> None:
    """FOR UPDATE SKIP LOCKED: rows locked elsewhere are passed over at once, not waited for,
    and taken by the next claim once they are free."""
    settings = with_smtp(load_settings({"db": postgres_url}, environ={}), NO_RELAY)
    async with await Store.open(settings, watch=False) as store:
        queued = await queue_messages(store, [f"p{i}@example.org" for i in range(6)])
        worker = _claimer(store, "skipper", batch=10)
        try:
            async with await psycopg.AsyncConnection.connect(postgres_url) as other:
                await other.execute(
                    "SELECT id FROM outbox WHERE id = ANY(%s) FOR UPDATE", (queued[:2],)
                )
                # Without SKIP LOCKED this would wait for `other` for ever (30 s: a hang guard).
                first = await asyncio.wait_for(worker.claim(), 30)
            second = await worker.claim()
        finally:
            worker.release_mark()
        assert sorted(m.id for m in first) == queued[2:]
        assert sorted(m.id for m in second) == queued[:2]


async def test_scheduled_work_runs_on_one_server_and_moves_when_it_stops(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = load_settings({"db": postgres_url}, environ={})
    one = await Store.open(settings, watch=False)
    async with await Store.open(settings, watch=False) as two:
        try:
            assert await runs_scheduled_work(one)
            assert await runs_scheduled_work(one)  # it keeps it
            assert not await runs_scheduled_work(two)
        finally:
            await one.close()
        assert await runs_scheduled_work(two)  # the first server is gone: the next takes over
    on_sqlite = load_settings({"db": str(tmp_path / "usher.db")}, environ={})
    async with await Store.open(on_sqlite) as a, await Store.open(on_sqlite) as b:
        assert await runs_scheduled_work(a) and await runs_scheduled_work(b)  # as before


async def test_an_insert_that_names_its_id_moves_the_sequence_past_it(postgres_url: str) -> None:
    """Batches reserve ids ahead (`max(id) + 1`), as SQLite allows; the next row that takes
    the next id must not collide with them, and `?1` parameters work as on SQLite."""
    async with await Store.open(load_settings({"db": postgres_url}, environ={})) as store:
        async with store.write() as tx:
            named = await tx.execute(
                "INSERT INTO audit (id, at, actor, action) VALUES (40, ?1, ?1, 'x')", ("a",)
            )
            taken = await tx.execute("INSERT INTO audit (at, actor, action) VALUES ('b', 'b', 'y')")
        assert (named, taken) == (40, 41)


async def test_lost_connections_are_a_retryable_refusal_then_the_pool_recovers(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    """PostgreSQL ending every connection (a restart, a failover) is `DatabaseUnavailable`
    (the pages' 503 with Retry-After) for what was under way, never a lost commit; the pool
    reconnects by itself and the next write goes through."""
    async with await Store.open(load_settings({"db": postgres_url}, environ={})) as store:
        await add_user(store, "ann@example.org")
        database = postgres_url.rsplit("/", 1)[1].split("?")[0]
        with postgres_server.admin() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )
        refused = 0
        for _ in range(POOL_SIZE + 1):  # each dead pooled connection fails once at most
            try:
                await add_user(store, "bea@example.org")
                break
            except DatabaseUnavailable as error:
                assert temporarily_unavailable(error)
                refused += 1
        assert await store.engine.scalar("SELECT count(*) FROM users") == 2
        assert refused <= POOL_SIZE


async def test_a_write_by_another_program_is_heard_too(postgres_url: str) -> None:
    """As SQLite's data_version notices any writer, the tables' triggers announce a change made
    outside Usher (psql, a script) to every store."""
    async with await Store.open(load_settings({"db": postgres_url}, environ={})) as store:
        engine = await _listening(store)
        engine.heard.clear()
        sync_run(postgres_url, INSERT_USER, user_row("raw@example.org"))
        await asyncio.wait_for(engine.heard.wait(), 10)
        assert await engine.data_version() >= 1


async def test_backup_on_postgresql_is_a_private_pg_dump_archive_and_restore_refuses(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = load_settings({"db": postgres_url}, environ={})
    async with await Store.open(settings, watch=False) as store:
        await add_user(store, "ann@example.org")
        report = await store.backup(str(tmp_path / "usher.dump"))
    dump = Path(report.path)
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_restore's custom format
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert report.users == 1
    with pytest.raises(BackupError, match="pg_restore"):
        restore(settings, str(dump))


async def test_people_are_shown_the_database_by_name_never_its_password(
    postgres_url: str,
) -> None:
    """A URL's password (trust authentication ignores it here) shows nowhere: not in the
    store's location (`usher check`, `usher serve`'s first line), nor in an error."""
    with_password = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
    assert "s3cret" in with_password
    async with await Store.open(load_settings({"db": with_password}, environ={})) as store:
        name = postgres_url.rsplit("/", 1)[1].split("?")[0]
        assert store.location == f"{name}@localhost" == database_label(with_password)
        report = await run_checks(store.settings)
    assert all("s3cret" not in check.detail for check in report)
    assert any(name in check.detail for check in report if check.name == "database")
    broken = with_password.replace(name, "no_such_database")
    with pytest.raises(StoreError) as refused:
        await Store.open(load_settings({"db": broken}, environ={}))
    assert "s3cret" not in str(refused.value) and "***" in str(refused.value)
