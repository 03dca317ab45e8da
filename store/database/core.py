"""`Store`: the one object both faces hold. It owns the connections, the change feed and the
hasher; domain operations (links, invitations, users, outbox) are methods of the modules that
take it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from types import TracebackType

from store.database.backup import BackupReport
from store.database.backup import backup as backup_database
from store.database.changes import ChangeFeed
from store.database.dialect import database_label, is_postgres_url
from store.database.engine import DatabaseError, Engine, Transaction
from store.database.instance_lock import RunningMark
from store.database.migrations import migrate
from store.domain.passwords import Hasher
from store.domain.records import AuditEntry, Counts
from store.onboarding import queries
from store.service.settings import Settings

__all__ = ["Store", "StoreError"]


class StoreError(Exception):
    """The store cannot be opened or used; the message is one line for people."""


async def _open_engine(db: str) -> Engine:
    """A `postgresql://` URL opens the PostgreSQL engine (imported only then); anything else
    is a SQLite file, as always."""
    if is_postgres_url(db):
        from store.database.engine_postgres import PostgresEngine

        return await PostgresEngine.open(db)
    return await Engine.open(db)


async def _prepare(engine: Engine) -> None:
    """SQLite runs its numbered migrations; PostgreSQL gets the schema they add up to."""
    if hasattr(engine, "prepare_schema"):
        await engine.prepare_schema()
    else:
        await migrate(engine)


def redacted(url: str) -> str:
    """A database URL without its password, for messages."""
    from store.database.engine_postgres import redacted as without_password

    return without_password(url)


class Store:
    def __init__(self, settings: Settings, engine: Engine, hasher: Hasher) -> None:
        self.settings = settings
        self.engine = engine
        self.hasher = hasher
        self.feed = ChangeFeed()
        self._running: RunningMark | None = None
        engine.on_commit(self.feed.publish)

    @classmethod
    async def open(
        cls, settings: Settings, *, hasher: Hasher | None = None, watch: bool = True
    ) -> Store:
        """Open (creating and migrating as needed) the database named by `settings.db`.

        With `watch`, commits by other processes are noticed by polling `PRAGMA data_version`.
        """
        try:
            engine = await _open_engine(settings.db)
        except DatabaseError as error:
            raise StoreError(str(error)) from None
        try:
            await _prepare(engine)
        except DatabaseError as error:
            await engine.close()
            raise StoreError(str(error)) from None
        except Exception as error:
            await engine.close()
            shown = redacted(settings.db) if is_postgres_url(settings.db) else settings.db
            raise StoreError(f"cannot prepare database {shown!r}: {error}") from None
        if hasher is None:
            hasher = Hasher(
                time_cost=settings.argon2_time_cost,
                memory_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            )
        store = cls(settings, engine, hasher)
        store._running = RunningMark(engine.path)
        if watch:
            store.feed.watch_other_processes(engine.data_version)
        return store

    async def close(self) -> None:
        await self.feed.stop()
        await self.engine.close()
        if self._running is not None:
            self._running.release()
            self._running = None

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def write(self, *topics: str) -> AsyncIterator[Transaction]:
        """A write transaction that announces `topics` (plus any it touches) on commit."""
        async with self.engine.write() as tx:
            tx.touch(*topics)
            yield tx

    @property
    def path(self) -> str:
        return os.fspath(self.engine.path)

    @property
    def location(self) -> str:
        """The database as people are shown it: the SQLite file's path (`path`), or a
        PostgreSQL database as `name@host` (`path` is then this machine's folder of lease
        marks, and the URL may hold a password)."""
        if is_postgres_url(self.settings.db):
            return database_label(self.settings.db)
        return self.path

    async def secret_key(self) -> str:
        """Random per-database secret for signing cookies (CSRF, sessions); made by migration 1."""
        value = await self.engine.scalar("SELECT value FROM meta WHERE key = 'secret_key'")
        return str(value)

    async def healthy(self) -> bool:
        try:
            return bool(await self.engine.scalar("SELECT 1") == 1)
        except Exception:
            return False

    async def counts(self) -> Counts:
        return await queries.counts(self.engine)

    async def recent_activity(self, limit: int = 20) -> list[AuditEntry]:
        return await queries.recent_audit(self.engine, limit)

    async def audit_entries(self, term: str = "", limit: int = 500) -> list[AuditEntry]:
        return await queries.audit_entries(self.engine, term, limit)

    async def backup(self, path: str) -> BackupReport:
        """A consistent copy of the live database in a new 0600 file (store/database/backup.py)."""
        return await backup_database(self.engine, path)
