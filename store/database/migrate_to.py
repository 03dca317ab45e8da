"""`usher migrate-to URL`: copy a SQLite database into an empty PostgreSQL one, whole.

Every table is copied row for row with its ids (so audit entries, links and outbox rows keep
pointing at the same people), in one transaction on the target: a failure leaves it as it was.
A target that already holds anything but the schema is refused, so nothing is ever merged or
overwritten. The source must not be in use (no console or server running on it), so no write
is left behind; it is left unchanged.
"""

from __future__ import annotations

import os
import sqlite3

import msgspec

from store.database.dialect import is_postgres_url
from store.database.engine import DatabaseError
from store.database.engine_postgres import PostgresEngine, redacted
from store.database.instance_lock import exclusive
from store.database.migrations import LATEST_VERSION
from store.database.pg_schema import VERSION_KEY, postgres_schema

BATCH = 1000
"""Rows sent to PostgreSQL in one `executemany`."""


class MigrateError(Exception):
    """The copy was refused or failed; nothing was written. The message is for people."""


class MigrateReport(msgspec.Struct, frozen=True):
    target: str
    rows: dict[str, int]
    """Rows per table (copied, or that would be with `dry_run`)."""
    dry_run: bool


def _source_rows(db: sqlite3.Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in postgres_schema().tables:
        quoted_table = f'"{table.name}"'
        row = db.execute(f"SELECT count(*) FROM {quoted_table}").fetchone()  # noqa: S608
        counts[table.name] = int(row[0])
    return counts


def _open_source(path: str) -> sqlite3.Connection:
    if is_postgres_url(path) or not os.path.isfile(path):
        raise MigrateError(f"the source must be an existing SQLite file, not {path!r}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version != LATEST_VERSION:
        db.close()
        raise MigrateError(
            f"{path!r} is at schema {version}, this Usher's is {LATEST_VERSION}: open it once "
            "with this Usher (e.g. `usher check`) so it is brought up to date, then migrate"
        )
    return db


async def migrate_to(source: str, target: str, *, dry_run: bool = False) -> MigrateReport:
    """Copy SQLite file `source` into the empty PostgreSQL database at URL `target`."""
    if not is_postgres_url(target):
        raise MigrateError(f"the target must be a postgresql:// URL, not {target!r}")
    shown = redacted(target)
    with exclusive(source):
        db = _open_source(source)
        try:
            counts = _source_rows(db)
            try:
                engine = await PostgresEngine.open(target)
            except DatabaseError as error:
                raise MigrateError(str(error)) from None
            try:
                await _refuse_non_empty(engine, shown)
                if not dry_run:
                    await engine.prepare_schema()
                    await _copy(engine, db)
            finally:
                await engine.close()
        finally:
            db.close()
    return MigrateReport(shown, counts, dry_run)


async def _refuse_non_empty(engine: PostgresEngine, shown: str) -> None:
    """Only the schema's own rows (the secret key, the schema version) may be there."""
    present = {
        str(row[0])
        for row in await engine.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }
    for table in postgres_schema().tables:
        if table.name not in present:
            continue
        if table.name == "meta":
            count = await engine.scalar(
                "SELECT count(*) FROM meta WHERE key NOT IN ('secret_key', ?)", (VERSION_KEY,)
            )
        else:
            quoted_table = f'"{table.name}"'
            count = await engine.scalar(f"SELECT count(*) FROM {quoted_table}")  # noqa: S608
        if count:
            raise MigrateError(
                f"{shown} is not empty (table {table.name!r} has {count} row(s)): "
                "migrate-to copies only into an empty database"
            )


async def _copy(engine: PostgresEngine, db: sqlite3.Connection) -> None:
    """Every table in one transaction on the target, parents before children; then each id
    sequence is moved past the highest id SQLite ever gave (ids are never reused)."""
    given = dict(db.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    async with engine.write() as tx:
        await tx.execute("DELETE FROM meta")
        for table in postgres_schema().tables:
            columns = list(table.columns)
            quoted_table = f'"{table.name}"'
            column_list = ", ".join(f'"{c}"' for c in columns)
            marks = ",".join("?" * len(columns))
            cursor = db.execute(f"SELECT {column_list} FROM {quoted_table}")  # noqa: S608
            insert = f"INSERT INTO {quoted_table} ({column_list}) VALUES ({marks})"  # noqa: S608
            while rows := cursor.fetchmany(BATCH):
                await tx.executemany(insert, rows)
            if "IDENTITY" in table.columns.get("id", ""):
                highest = max(int(given.get(table.name) or 0), 0)
                await tx.fetchone(
                    f"SELECT setval(pg_get_serial_sequence('{quoted_table}', 'id'), "  # noqa: S608
                    f"greatest((SELECT coalesce(max(id), 0) FROM {quoted_table}), ?) + 1, "
                    "false)",
                    (highest,),
                )
        await tx.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (VERSION_KEY, str(LATEST_VERSION)),
        )
