"""Backups and restores of a live database.

A backup is `VACUUM INTO` through the process's write connection: a consistent snapshot taken
while consoles and servers keep running (readers and other writers only wait for the copy).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import msgspec

from store.database.dialect import is_postgres_url
from store.database.engine import DatabaseError, Engine
from store.database.instance_lock import exclusive
from store.database.migrations import LATEST_VERSION
from store.domain.clock import now
from store.domain.refusal import Refused
from store.service.settings import Settings


class BackupError(Refused):
    """The backup or restore could not be done; the message is for people."""


class BackupReport(msgspec.Struct, frozen=True):
    path: str
    bytes: int
    users: int
    schema_version: int


def _target(path: str | os.PathLike[str]) -> Path:
    target = Path(path).expanduser().resolve()
    if target.exists():
        raise BackupError(f"{str(target)!r} already exists: choose a new file name")
    if not target.parent.is_dir():
        raise BackupError(f"folder {str(target.parent)!r} does not exist")
    return target


def inspect(path: Path) -> tuple[int, int]:
    """(schema version, user count) of a backup file, or BackupError if it is not usable."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise BackupError(f"cannot open {str(path)!r}: {error}") from None
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"{str(path)!r} is damaged: {check}")
        if version < 1:
            raise BackupError(f"{str(path)!r} is not an Usher database (no schema version)")
        if version > LATEST_VERSION:
            raise BackupError(
                f"{str(path)!r} has schema version {version}, newer than this Usher "
                f"({LATEST_VERSION}): upgrade Usher first"
            )
        users = int(conn.execute("SELECT count(*) FROM users").fetchone()[0])
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{str(path)!r} is not an Usher database: {error}") from None
    finally:
        conn.close()
    return version, users


async def backup(engine: Engine, path: str | os.PathLike[str]) -> BackupReport:
    """Write a consistent copy of the live database to a new file `path` (mode 0600)."""
    target = _target(path)
    # VACUUM INTO accepts an empty file: creating it first gives it our mode, not the umask's.
    fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        await engine.backup_to(str(target))
    except Exception as error:
        target.unlink(missing_ok=True)
        raise BackupError(f"backup to {str(target)!r} failed: {error}") from None
    if hasattr(engine, "url"):  # PostgreSQL: a pg_dump archive, counted from the database
        users = int(await engine.scalar("SELECT count(*) FROM users"))
        return BackupReport(str(target), target.stat().st_size, users, await engine.user_version())
    version, users = inspect(target)
    return BackupReport(str(target), target.stat().st_size, users, version)


def restore(settings: Settings, source: str, *, moment: datetime | None = None) -> Path:
    """Replace the database with `source`; the current file is kept aside and its new name
    returned. Refuses while any console or server has the database open."""
    if is_postgres_url(settings.db):
        raise BackupError(
            "usher restore replaces SQLite files only: on PostgreSQL run "
            f"pg_restore --clean --no-owner -d URL {source}"
        )
    backup_file = Path(source).expanduser().resolve()
    if not backup_file.is_file():
        raise BackupError(f"{str(backup_file)!r} does not exist")
    inspect(backup_file)
    db = Path(settings.db).expanduser().resolve()
    stamp = (moment or now()).strftime("%Y%m%dT%H%M%SZ")
    aside = db.with_name(f"{db.name}.before-restore-{stamp}")
    with exclusive(db):
        if db.exists():
            _checkpoint(db)
            db.rename(aside)
            for suffix in ("-wal", "-shm"):
                sidecar = db.with_name(db.name + suffix)
                if sidecar.exists():
                    sidecar.rename(aside.with_name(aside.name + suffix))
        fd = os.open(db, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, backup_file.open("rb") as src:
            shutil.copyfileobj(src, out)
    return aside


def _checkpoint(db: Path) -> None:
    """Fold the WAL into the main file so the file kept aside is complete on its own."""
    try:
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise DatabaseError(f"cannot checkpoint {str(db)!r}: {error}") from None
