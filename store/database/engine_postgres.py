"""The PostgreSQL engine: the same operations as `store/database/engine.py`'s, on psycopg 3 (async)
with a psycopg_pool connection pool, chosen when `USHER_DB` is a `postgresql://` URL.

- Every statement goes through `store.database.dialect.to_postgres`; rows read like `sqlite3.Row`
  (by index and by name); booleans are written as 0/1, numbers read back as ints, and an
  INSERT returns the new row's id, as on SQLite. A unique or foreign key refusal is raised as
  `sqlite3.IntegrityError`, so operations catch one thing on both engines.
- A write transaction is `BEGIN` plus a transaction-scoped advisory lock: one writer at a time
  across every process, as SQLite's `BEGIN IMMEDIATE` gives, so every "check then change in
  one transaction" rule holds unchanged.
- The change feed: a trigger on every table sends `NOTIFY usher_changes` for each changed row
  (PostgreSQL delivers one per transaction, at commit) with the writing process's id only,
  which each write transaction sets with its lock; a write by anything else (psql, a script)
  is announced too, with an empty id, as SQLite's data_version notices any writer. One dedicated
  listener connection per process counts other processes' notifications (reconnecting by
  itself); `data_version()` returns that count, so `ChangeFeed` follows it as it follows
  SQLite's `PRAGMA data_version`, without a query per poll.
- Leases' "holder is gone" marks and the running mark are files on this machine (a folder
  under the temp dir named after the database), so they prove a death only on one machine;
  across machines a lease simply expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import AsyncConnection, AsyncCursor
from psycopg.adapt import Dumper, Loader
from psycopg.conninfo import make_conninfo
from psycopg.pq import Format
from psycopg.rows import RowMaker
from psycopg.types.string import StrDumper
from psycopg_pool import AsyncConnectionPool

from store.database import dialect
from store.database.engine import (
    WATCHED_WITHIN,
    DatabaseError,
    DatabaseUnavailable,
    Engine,
    MigrationStep,
    TableText,
    _cannot_hold_text,
)
from store.database.engine import Row as SqliteRow
from store.database.engine import Transaction as SqliteTransaction

log = logging.getLogger(__name__)

POOL_SIZE = 10
"""Connections per process (reads run beside the one write transaction; the listener has its
own connection)."""

RECONNECT_DELAY = 0.5
"""Seconds before the listener tries again after losing its connection."""

Params = Sequence[Any] | dict[str, Any]


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class PgRow(tuple[Any, ...]):
    """A row read by position or by column name, like `sqlite3.Row`."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: AsyncCursor[Any]) -> RowMaker[PgRow]:
    names = [column.name for column in cursor.description or ()]
    index = {name: i for i, name in enumerate(names)}

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(values, index)

    return make


class _BoolAsInt(Dumper):
    """SQLite has no booleans: a Python bool is sent as an untyped '1' or '0', which
    PostgreSQL reads as a number in an integer column and as true/false where it needs a
    boolean (`CASE WHEN ?`)."""

    oid = 0
    format = Format.TEXT

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumericAsNumber(Loader):
    """`sum()` and friends answer `numeric`: an int when whole (as SQLite's), else a float."""

    def load(self, data: Any) -> Any:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


async def _configure(conn: AsyncConnection[Any]) -> None:
    conn.adapters.register_dumper(bool, _BoolAsInt)
    conn.adapters.register_dumper(str, StrDumper)
    conn.adapters.register_loader("numeric", _NumericAsNumber)


def _integrity(error: psycopg.errors.IntegrityError) -> sqlite3.IntegrityError:
    return sqlite3.IntegrityError(str(error).splitlines()[0])


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    """psycopg's errors as the SQLite engine's: refusals as IntegrityError, a lost or refused
    connection as DatabaseUnavailable (the request can be tried again)."""
    try:
        yield
    except psycopg.errors.IntegrityError as error:
        raise _integrity(error) from error
    except (psycopg.OperationalError, psycopg.InterfaceError) as error:
        if isinstance(error, psycopg.errors.QueryCanceled):
            raise
        raise DatabaseUnavailable(f"database unreachable: {str(error).strip()}") from error
    except psycopg_pool.PoolTimeout as error:
        raise DatabaseUnavailable(f"database unreachable: {error}") from error


async def _run(conn: AsyncConnection[Any], sql: str, params: Params) -> AsyncCursor[Any]:
    with _translated_errors():
        return await conn.execute(dialect.to_postgres(sql), dialect.parameters(sql, params))


def _returning_id(sql: str, with_id: frozenset[str]) -> bool:
    table = dialect.inserts_into(sql)
    return table is not None and table in with_id and not dialect.has_returning(sql)


class PostgresTransaction(SqliteTransaction):
    """An open write transaction on one pooled connection (the same API as SQLite's)."""

    def __init__(self, conn: AsyncConnection[Any], with_id: frozenset[str]) -> None:
        self._pg = conn
        self._with_id = with_id
        self.topics: set[str] = set()
        self._deferred: list[tuple[str, Params]] = []
        self.committed: list[Callable[[], None]] = []

    async def _flush(self) -> None:
        deferred, self._deferred = self._deferred, []
        for sql, params in deferred:
            await _run(self._pg, sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        await self._flush()
        if _returning_id(sql, self._with_id):
            cursor = await _run(self._pg, f"{sql.rstrip().rstrip(';')} RETURNING id", params)
            rows = await cursor.fetchall()
            return int(rows[0][0]) if len(rows) == 1 else len(rows)
        cursor = await _run(self._pg, sql, params)
        return int(cursor.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._flush()
        with _translated_errors():
            async with self._pg.cursor() as cursor:
                await cursor.executemany(dialect.to_postgres(sql), list(rows))

    async def fetchone(self, sql: str, params: Params = ()) -> SqliteRow | None:
        await self._flush()
        cursor = await _run(self._pg, sql, params)
        return cast(SqliteRow | None, await cursor.fetchone())

    async def fetchall(self, sql: str, params: Params = ()) -> list[SqliteRow]:
        await self._flush()
        cursor = await _run(self._pg, sql, params)
        return cast(list[SqliteRow], await cursor.fetchall())

    async def tables_with_text(self) -> list[TableText]:
        """Every table of the schema with text columns, from PostgreSQL's catalogue; a row is
        found again by its primary key (by its `ctid` in a table without one: stable here,
        since the write lock keeps every other Usher writer out)."""
        await self._flush()
        with _translated_errors():
            cursor = await self._pg.execute(dialect.TEXT_COLUMNS_SQL)
            columns = await cursor.fetchall()
            cursor = await self._pg.execute(dialect.PRIMARY_KEYS_SQL)
            keys = await cursor.fetchall()
        text: dict[str, list[str]] = {}
        for table, column in columns:
            if not _cannot_hold_text(column):
                text.setdefault(table, []).append(column)
        primary: dict[str, list[str]] = {}
        for table, column in keys:
            primary.setdefault(table, []).append(f'"{column}"')
        return [
            TableText(table, primary.get(table, ["CAST(ctid AS text)"]), names)
            for table, names in text.items()
        ]

    @contextlib.asynccontextmanager
    async def overwriting_deletes(self) -> AsyncIterator[None]:
        """Nothing to set: PostgreSQL keeps deleted rows as dead tuples whatever is done in the
        transaction; `PostgresEngine.purge_deleted` rewrites the tables afterwards."""
        yield


def marks_folder(url: str) -> Path:
    """Where this machine's running and holder marks for the database live."""
    digest = hashlib.sha256(redacted(url).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"usher-pg-{os.getuid()}-{digest}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


class PostgresEngine(Engine):
    """The process's pool of connections to one PostgreSQL database, and its listener."""

    def __init__(self, url: str, pool: AsyncConnectionPool[AsyncConnection[Any]]) -> None:
        self.url = url
        self.path = marks_folder(url) / "usher.db"
        self._pool = pool
        self._write_lock = asyncio.Lock()
        self._on_commit: list[Callable[[set[str]], None]] = []
        self._read_cache: dict[Any, Any] = {}
        self._watched_at = float("-inf")
        self.sender = secrets.token_hex(6)
        """This process's id in NOTIFY payloads (its own notifications are not news)."""
        self._external = 0
        self._listening = False
        self._listener_pid: int | None = None
        self._listener: asyncio.Task[None] | None = None
        self.heard = asyncio.Event()
        """Set whenever another process's notification arrives (tests wait on it)."""
        self._with_id: frozenset[str] = frozenset()
        self._scheduler: AsyncConnection[Any] | None = None

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> PostgresEngine:
        url = os.fspath(path)
        try:  # one plain connection first: a wrong URL fails at once, with libpq's reason
            info = url if "connect_timeout" in url else make_conninfo(url, connect_timeout=10)
            probe = await AsyncConnection.connect(info)
        except psycopg.Error as error:
            reason = " ".join(line.strip() for line in str(error).splitlines())
            raise DatabaseError(f"cannot open database {redacted(url)!r}: {reason}") from None
        await probe.close()
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            kwargs={"autocommit": True, "row_factory": _row_factory},
            configure=_configure,
            timeout=10.0,
        )
        try:
            await pool.open(wait=True, timeout=10.0)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
            await pool.close()
            raise DatabaseError(f"cannot open database {redacted(url)!r}: {error}") from None
        return cls(url, pool)

    async def prepare_schema(self) -> list[str]:
        """Create or complete the schema (pg_schema.py) and note which tables have ids."""
        from store.database.pg_schema import postgres_schema, prepare

        async with self._pool.connection() as conn:
            with _translated_errors():
                done = await prepare(conn)
        self._with_id = frozenset(
            table.name
            for table in postgres_schema().tables
            if "IDENTITY" in table.columns.get("id", "")
        )
        return done

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._scheduler is not None:
            with contextlib.suppress(psycopg.Error):
                await self._scheduler.close()
            self._scheduler = None
        async with self._write_lock:
            await self._pool.close()

    def read_cache(self) -> dict[Any, Any] | None:
        if not self._listening or time.monotonic() - self._watched_at > WATCHED_WITHIN:
            return None
        return self._read_cache

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteTransaction]:
        """`BEGIN`, the write lock and who we are (for the NOTIFY the tables' triggers send);
        committed on normal exit, rolled back on error."""
        async with self._write_lock:
            try:
                async with self._pool.connection() as conn:
                    tx = PostgresTransaction(conn, self._with_id)
                    with _translated_errors():
                        await conn.execute("BEGIN")
                        await conn.execute(dialect.WRITE_LOCK_AS_SQL, (self.sender,))
                    try:
                        yield tx
                        await tx._flush()
                        with _translated_errors():
                            await conn.execute("COMMIT")
                    except BaseException:
                        with contextlib.suppress(psycopg.Error):
                            await conn.execute("ROLLBACK")
                        raise
            except psycopg_pool.PoolTimeout as error:
                raise DatabaseUnavailable(f"database unreachable: {error}") from error
            finally:
                self._changed()
        self._committed(tx)

    async def _read(self, sql: str, params: Params) -> list[SqliteRow]:
        try:
            async with self._pool.connection() as conn:
                cursor = await _run(conn, sql, params)
                return cast(list[SqliteRow], await cursor.fetchall())
        except psycopg_pool.PoolTimeout as error:
            raise DatabaseUnavailable(f"database unreachable: {error}") from error

    async def fetchone(self, sql: str, params: Params = ()) -> SqliteRow | None:
        rows = await self._read(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[SqliteRow]:
        return await self._read(sql, params)

    # ------------------------------------------------------------ the change feed

    async def data_version(self) -> int:
        """How many other processes' commits the listener has heard of (it starts on the first
        call); `ChangeFeed` publishes a change whenever this moves."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen())
        if self._listening:
            self._watched_at = time.monotonic()
        return self._external

    @property
    def listening(self) -> bool:
        """Whether the listener is connected (other processes' commits are being heard)."""
        return self._listening

    @property
    def listener_pid(self) -> int | None:
        """The server process of the listener's connection (to watch or end it)."""
        return self._listener_pid

    def _heard(self) -> None:
        self._external += 1
        self._changed()
        self.heard.set()

    async def _listen(self) -> None:
        """One dedicated autocommit connection LISTENing; reconnects by itself. On each
        (re)connection it counts one change: what happened while it was away is unknown."""
        first = True
        while True:
            try:
                conn = await AsyncConnection.connect(self.url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {dialect.NOTIFY_CHANNEL}")
                    self._listener_pid = conn.info.backend_pid
                    self._listening = True
                    if not first:
                        self._heard()
                    first = False
                    async for note in conn.notifies():
                        if note.payload != self.sender:
                            self._heard()
            except asyncio.CancelledError:
                self._listening = False
                raise
            except Exception as error:  # a lost connection: try again shortly
                log.debug("change listener: %s", error)
            self._listening = False
            await asyncio.sleep(RECONNECT_DELAY)

    # ------------------------------------------------------------ schema and maintenance

    async def user_version(self) -> int:
        from store.database.pg_schema import VERSION_KEY

        value = await self.scalar("SELECT value FROM meta WHERE key = ?", (VERSION_KEY,))
        return int(value) if value is not None else 0

    async def migrate(self, version: int, script: str | MigrationStep) -> bool:
        raise DatabaseError(
            "a PostgreSQL schema is made from all migrations at once (store/database/pg_schema.py)"
        )

    async def checkpoint(self) -> bool:
        """Nothing to fold in: PostgreSQL's write-ahead log is its own to recycle."""
        return True

    async def purge_deleted(self, tables: Iterable[str]) -> bool:
        """After an erasure: `VACUUM FULL` on each of `tables`, which writes the table and its
        indexes anew without the dead tuples (a plain VACUUM only marks their space free: the
        bytes stay in the file until reused). It locks each table for the rewrite, so readers
        wait for it. PostgreSQL's write-ahead log keeps the old rows until its segments are
        recycled after later checkpoints; Usher cannot shorten that."""
        async with self._pool.connection() as conn:
            with _translated_errors():
                for catalogued in sorted(set(tables)):
                    await conn.execute(f'VACUUM FULL "{catalogued}"')
        return True

    async def backup_to(self, target: str) -> None:
        """`pg_dump -Fc` into `target` (restore it with `pg_restore`); refused, with the
        command to run, when pg_dump is not installed here."""
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise DatabaseError(
                "pg_dump is not installed here: run "
                f"pg_dump -Fc -f {target} '{redacted(self.url)}' where it is"
            )
        process = await asyncio.create_subprocess_exec(
            pg_dump,
            "-Fc",
            "--no-owner",
            "-f",
            target,
            "--dbname",
            self.url,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await process.communicate()
        if process.returncode != 0:
            message = err.decode(errors="replace").strip().splitlines()
            raise DatabaseError(f"pg_dump failed: {message[-1] if message else process.returncode}")

    async def holds_scheduler_lock(self) -> bool:
        """Whether this process is the one that runs scheduled work: it takes the session
        advisory lock on a connection of its own if it is free, and keeps it while that
        connection lives (a dead server's lock is released with its connection, and the next
        server to ask takes it over)."""
        if self._scheduler is not None:
            try:
                await self._scheduler.execute("SELECT 1")
                return True
            except psycopg.Error:
                with contextlib.suppress(psycopg.Error):
                    await self._scheduler.close()
                self._scheduler = None
        try:
            conn = await AsyncConnection.connect(self.url, autocommit=True)
        except psycopg.Error:
            return False
        cursor = await conn.execute(
            "SELECT pg_try_advisory_lock(%s)", (dialect.SCHEDULER_LOCK_KEY,)
        )
        row = await cursor.fetchone()
        if row is not None and row[0]:
            self._scheduler = conn
            return True
        await conn.close()
        return False
