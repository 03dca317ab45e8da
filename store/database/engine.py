"""Everything SQLite-specific lives here: opening, pragmas, write transactions, change polling.

One write connection per process behind an asyncio lock, each write inside `BEGIN IMMEDIATE`
(a deferred BEGIN that upgrades to a write fails with SQLITE_BUSY without waiting), and a separate
read connection. When Usher moves to PostgreSQL this is the module that gets a sibling.

Other processes' commits are noticed by polling `PRAGMA data_version` on the WRITE connection:
its value moves only for commits made by other connections, and in this process only the writer
commits, so a change there is always another process's commit — never an echo of our own (a
separate watcher connection would also see our own commits one poll later, and every write
would cause a second, full refresh).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import aiosqlite

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another process's write lock before giving up."""

WATCHED_WITHIN = 1.0
"""Seconds: `read_cache()` is offered only while another process's commits are being noticed,
i.e. `data_version()` (the change feed polls it every 100 ms) ran this recently."""

Row = sqlite3.Row

MigrationStep = Callable[[sqlite3.Connection], None]
"""A migration written in Python: runs in the connection's thread, inside the transaction."""


class DatabaseError(Exception):
    """The database cannot be used (missing folder, not a database, locked, too new)."""


class DatabaseUnavailable(DatabaseError):
    """A write could not start: another connection held the write lock for longer than
    `busy_timeout`. Nothing was written; trying again a little later may work."""


_TEMPORARY_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_IOERR")
"""SQLite result codes (and their extended forms) that say "not now", not "never"."""


def temporarily_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database cannot write just now (locked for too long, disk
    full, an I/O error): the transaction was rolled back and the request can be retried."""
    if isinstance(error, DatabaseUnavailable):
        return True
    if not isinstance(error, sqlite3.OperationalError):
        return False
    name = str(getattr(error, "sqlite_errorname", "") or "")
    if name:
        return name.startswith(_TEMPORARY_ERRORS)
    text = str(error).lower()
    return "locked" in text or "disk is full" in text or "disk i/o" in text


T = TypeVar("T")


async def _call(conn: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work(sqlite3_connection)` in the connection's thread: ONE hop there and back.

    Each hop (a queue put, a thread wake-up, a loop wake-up) costs far more CPU than a small
    statement, and aiosqlite's cursor API takes three per query (execute, fetch, close), so every
    statement here is run, read and closed in a single call.
    """
    result: T = await conn._execute(work, conn._conn)  # type: ignore[no-untyped-call]
    return result


def _execute(db: sqlite3.Connection, sql: str, params: Sequence[Any] | dict[str, Any]) -> int:
    cursor = db.execute(sql, params)
    try:
        if sql.lstrip()[:6].upper() == "INSERT" and cursor.rowcount == 1:
            return int(cursor.lastrowid or 0)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def _fetchone(
    db: sqlite3.Connection, sql: str, params: Sequence[Any] | dict[str, Any]
) -> Row | None:
    cursor = db.execute(sql, params)
    try:
        row: Row | None = cursor.fetchone()
        return row
    finally:
        cursor.close()


def _fetchall(
    db: sqlite3.Connection, sql: str, params: Sequence[Any] | dict[str, Any]
) -> list[Row]:
    cursor = db.execute(sql, params)
    try:
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _executemany(db: sqlite3.Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    db.executemany(sql, rows).close()


def read_data_version(db: sqlite3.Connection) -> int:
    """`PRAGMA data_version` (a named function, so counters of per-request work can leave the
    change feed's timed polls out)."""
    row = _fetchone(db, "PRAGMA data_version", ())
    return int(row[0]) if row else 0


def _begin(db: sqlite3.Connection) -> None:
    try:
        db.execute("BEGIN IMMEDIATE").close()
    except sqlite3.OperationalError as error:
        raise DatabaseUnavailable(f"database is busy: {error}") from None


Params = Sequence[Any] | dict[str, Any]


class TableText(NamedTuple):
    """A table's text columns, and the columns that find one of its rows again (an erasure
    reads candidates, then rewrites each by these)."""

    name: str
    keys: list[str]
    text: list[str]


def _cannot_hold_text(column: str) -> bool:
    """Times (`*_at`, `at`) and digests (`*_hash`) never hold a person's words: not read."""
    return column == "at" or column.endswith(("_at", "_hash"))


class Transaction:
    """An open write transaction: run statements, and name the tables it changes.

    The names become the topics of the change event sent after the commit. Every call is one
    round trip to the connection's thread: `BEGIN IMMEDIATE` goes with the first statement,
    statements queued with `defer` go with the next statement or with the `COMMIT`.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self.topics: set[str] = set()
        self._begun = False
        self._deferred: list[tuple[str, Params]] = []
        self.committed: list[Callable[[], None]] = []
        """Called once this transaction is committed (files that follow rows: `.eml` copies)."""

    def touch(self, *topics: str) -> None:
        self.topics.update(topics)

    def defer(self, sql: str, params: Params = ()) -> None:
        """Queue a statement whose result nobody reads (an audit row, a webhook row): it runs in
        this transaction, in order, just before the next statement or the commit and in the same
        round trip. If it fails, that next call raises and the transaction rolls back whole."""
        self._deferred.append((sql, params))

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        begin, deferred = not self._begun, self._deferred
        self._begun, self._deferred = True, []

        def run(db: sqlite3.Connection) -> T:
            if begin:
                _begin(db)
            for sql, params in deferred:
                _execute(db, sql, params)
            return work(db)

        return await _call(self._conn, run)

    async def _commit(self) -> None:
        """The deferred statements and `COMMIT` (a transaction that ran nothing still takes the
        write lock, so a busy database is reported the same way)."""
        await self._run(lambda db: db.execute("COMMIT").close())

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return lastrowid for inserts, else the number of changed rows."""
        return await self._run(lambda db: _execute(db, sql, params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._run(lambda db: _executemany(db, sql, rows))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._run(lambda db: _fetchone(db, sql, params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._run(lambda db: _fetchall(db, sql, params))

    async def tables_with_text(self) -> list[TableText]:
        """Every table with TEXT columns, read from SQLite's catalogue (so tables added later
        are covered too); a row is found again by its `rowid`."""
        tables = await self.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        found: list[TableText] = []
        for table in tables:
            name = str(table["name"])
            columns = await self.fetchall(f'PRAGMA table_info("{name}")')
            text = [
                str(c["name"])
                for c in columns
                if str(c["type"]).upper().startswith("TEXT") and not _cannot_hold_text(c["name"])
            ]
            if text:
                found.append(TableText(name, ["rowid"], text))
        return found

    @asynccontextmanager
    async def overwriting_deletes(self) -> AsyncIterator[None]:
        """Within: deleted cells are overwritten in the file (`PRAGMA secure_delete`), so an
        erased address does not linger in free pages; the connection's mode is restored."""
        mode = await self.fetchone("PRAGMA secure_delete")
        previous = int(mode[0]) if mode else 0
        await self.execute("PRAGMA secure_delete = ON")
        try:
            yield
        finally:
            await self.execute(f"PRAGMA secure_delete = {int(previous)}")


def _create_private_file(path: Path) -> None:
    """Create the database file with mode 0600 before SQLite does (it would use the umask).

    SQLite gives the -wal and -shm files the same permissions as the database file.
    """
    if path.exists():
        return
    if not path.parent.exists():
        raise DatabaseError(
            f"cannot open database {str(path)!r}: folder {str(path.parent)!r} does not exist"
        )
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as error:
        raise DatabaseError(f"cannot create database {str(path)!r}: {error.strerror}") from None
    os.close(fd)


def _run_sync(db: sqlite3.Connection, sql: str) -> None:
    cursor = db.execute(sql)
    try:
        cursor.fetchall()
    finally:
        cursor.close()


async def _run(conn: aiosqlite.Connection, sql: str) -> None:
    """Run one statement to completion: an unfinished SELECT would pin an old read snapshot."""
    await _call(conn, lambda db: _run_sync(db, sql))


async def _rollback(conn: aiosqlite.Connection) -> None:
    """Roll back, unless SQLite already has: after SQLITE_FULL, an I/O error or running out of
    memory it may end the transaction itself, and a second ROLLBACK would fail and hide the
    error that matters (and a retry would then find the connection still fine)."""
    if conn.in_transaction:
        await _run(conn, "ROLLBACK")


async def _connect(path: Path, *, readonly: bool) -> aiosqlite.Connection:
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as error:
        raise DatabaseError(f"cannot open database {str(path)!r}: {error}") from None
    conn.row_factory = sqlite3.Row
    try:
        await _run(conn, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await _run(conn, "PRAGMA foreign_keys = ON")
        if readonly:
            await _run(conn, "PRAGMA query_only = ON")
        else:
            async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
                row = await cursor.fetchone()
                await cursor.fetchall()
            if row is None or str(row[0]).lower() != "wal":
                raise DatabaseError(f"cannot use WAL mode on {str(path)!r}")
            await _run(conn, "PRAGMA synchronous = NORMAL")
        # Touch the schema so that a file that is not a database fails here, not later.
        await _run(conn, "SELECT count(*) FROM sqlite_master")
    except sqlite3.Error as error:
        await conn.close()
        raise DatabaseError(f"cannot use database {str(path)!r}: {error}") from None
    return conn


class Engine:
    """The process's connections to one SQLite file."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._on_commit: list[Callable[[set[str]], None]] = []
        self._read_cache: dict[Any, Any] = {}
        self._version: int | None = None
        self._watched_at = float("-inf")

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Engine:
        resolved = Path(path).expanduser().resolve()
        if resolved.is_dir():
            raise DatabaseError(f"cannot open database {str(resolved)!r}: it is a folder")
        _create_private_file(resolved)
        writer = await _connect(resolved, readonly=False)
        try:
            reader = await _connect(resolved, readonly=True)
        except DatabaseError:
            await writer.close()
            raise
        return cls(resolved, writer, reader)

    async def close(self) -> None:
        async with self._write_lock:
            for conn in (self._reader, self._writer):
                await conn.close()

    def read_cache(self) -> dict[Any, Any] | None:
        """A dict for keeping what was just read, emptied (replaced) whenever the database may
        have changed: after every write transaction of this process, whatever its topics, and
        when a commit by another process is noticed (within one poll of `data_version`). None
        while nothing polls, since other processes' commits would then go unnoticed.

        Take it BEFORE reading and store into that same dict: a commit during the read then
        leaves the result in a dict nobody looks at any more. Only for what may lag another
        process's commit by one poll (a page that only shows; the write re-checks).
        """
        if time.monotonic() - self._watched_at > WATCHED_WITHIN:
            return None
        return self._read_cache

    def _changed(self) -> None:
        self._read_cache = {}

    def on_commit(self, callback: Callable[[set[str]], None]) -> None:
        """Call `callback(topics)` after each successful write transaction of this process."""
        self._on_commit.append(callback)

    def _committed(self, tx: Transaction) -> None:
        """After a commit, on either engine: the transaction's own follow-ups, then whoever
        follows this process's commits (the change feed), told which topics it touched."""
        for done in tx.committed:
            done()
        if tx.topics:
            for callback in list(self._on_commit):
                callback(set(tx.topics))

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        """One `BEGIN IMMEDIATE` transaction; committed on normal exit, rolled back on error.
        DatabaseUnavailable (busy) comes from the first statement, which carries the BEGIN.

        The lock is held for the whole transaction: on a shared connection another coroutine's
        `commit()` would otherwise commit our half-done statements. Never hash inside it.
        """
        async with self._write_lock:
            tx = Transaction(self._writer)
            try:
                yield tx
            except BaseException:
                await _rollback(self._writer)
                raise
            try:
                await tx._commit()
            except sqlite3.Error:
                await _rollback(self._writer)
                raise
            finally:
                self._changed()
        self._committed(tx)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
        return await _call(self._reader, lambda db: _fetchone(db, sql, params))

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        return await _call(self._reader, lambda db: _fetchall(db, sql, params))

    async def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def data_version(self) -> int:
        """SQLite's counter that moves when another process commits to the file.

        Read on the writer, which never sees its own commits in it. No write lock is needed:
        the pragma only reads, and aiosqlite runs it between the statements of a transaction."""
        started = time.monotonic()
        version = await _call(self._writer, read_data_version)
        if version != self._version:
            self._version = version
            self._changed()
        self._watched_at = started
        return version

    async def user_version(self) -> int:
        async with self._writer.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self, version: int, script: str | MigrationStep) -> bool:
        """Bring the schema to `version` by running `script`, unless it is there already.

        `script` is SQL, or a function run with the raw connection in the migration's
        transaction (for steps SQL cannot do alone, such as a table rebuild).

        Checked and applied in one `BEGIN IMMEDIATE` transaction, so two processes opening a
        new file at once apply each migration exactly once. Returns whether it ran.
        Foreign keys are off meanwhile (SQLite ignores the pragma inside a transaction, and
        a table rebuild's DROP would otherwise cascade into the tables that reference it);
        `foreign_key_check` must find nothing the migration broke before the commit (what was
        broken before, e.g. by a hand edit with foreign keys off, does not stop it).
        """
        async with self._write_lock:
            await _run(self._writer, "PRAGMA foreign_keys = OFF")
            try:
                await _run(self._writer, "BEGIN IMMEDIATE")
                async with self._writer.execute("PRAGMA user_version") as cursor:
                    row = await cursor.fetchone()
                if row is not None and int(row[0]) >= version:
                    await _run(self._writer, "ROLLBACK")
                    return False
                already_broken = await _call(self._writer, _broken_references)
                if isinstance(script, str):
                    for statement in _split_statements(script):
                        await _run(self._writer, statement)
                else:
                    await _call(self._writer, script)
                broken = await _call(self._writer, _broken_references) - already_broken
                if broken:
                    raise DatabaseError(
                        f"migration {version} would break {len(broken)} foreign key(s), "
                        f"e.g. in table {next(iter(broken))[0]!r}: nothing was changed"
                    )
                await _run(self._writer, f"PRAGMA user_version = {int(version)}")
                await _run(self._writer, "COMMIT")
            except BaseException:
                await _rollback(self._writer)
                raise
            finally:
                await _run(self._writer, "PRAGMA foreign_keys = ON")
                self._changed()
        return True

    async def checkpoint(self) -> bool:
        """Fold the write-ahead log into the database file and truncate it (after an erasure,
        so deleted data does not linger in the log). False when a reader kept it from finishing:
        SQLite then does it at a later checkpoint."""
        async with (
            self._write_lock,
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor,
        ):
            row = await cursor.fetchone()
            await cursor.fetchall()
        return row is not None and int(row[0]) == 0

    async def purge_deleted(self, tables: Iterable[str]) -> bool:
        """After an erasure, what was deleted from `tables` leaves the files: the deletes were
        overwritten in place (`Transaction.overwriting_deletes`), so only the write-ahead log
        still holds it, and it is folded in and truncated (`checkpoint`)."""
        return await self.checkpoint()

    async def backup_to(self, target: str) -> None:
        """An online, consistent copy (later used by `usher backup`)."""
        async with self._write_lock, self._writer.execute("VACUUM INTO ?", (target,)) as cursor:
            await cursor.fetchall()


def _broken_references(db: sqlite3.Connection) -> set[tuple[Any, ...]]:
    """`PRAGMA foreign_key_check`: (table, rowid, parent table, key index) of each dangling
    reference."""
    return {tuple(row) for row in _fetchall(db, "PRAGMA foreign_key_check", ())}


def _split_statements(script: str) -> list[str]:
    """Split a migration script on complete SQL statements (triggers may contain `;`)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
