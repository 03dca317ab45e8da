"""Operators' commands: `usher backup FILE`, `usher restore FILE`, `usher housekeeping`,
`usher migrate-to URL`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import msgspec

from store import Settings
from store.accounts.audit import console_actor
from store.database.backup import BackupError, BackupReport, restore
from store.database.instance_lock import DatabaseInUse
from store.service.housekeeping import HousekeepingReport, run_housekeeping

from ..words import counted
from .commands import subcommand
from .errors import EXIT_OK, CliError
from .with_store import with_store


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    backup = subcommand(
        commands,
        "backup",
        run_backup,
        common=common,
        help="write a consistent copy of the live database to a new file (mode 0600)",
    )
    backup.add_argument("file", help="the new backup file")
    backup.add_argument("--json", action="store_true", help="print the result as JSON")

    restore_cmd = subcommand(
        commands,
        "restore",
        run_restore,
        common=common,
        help="replace the database with a backup (stop consoles and servers first)",
    )
    restore_cmd.add_argument("file", help="a file written by `usher backup`")

    housekeeping = subcommand(
        commands,
        "housekeeping",
        run_housekeeping_command,
        common=common,
        help="delete expired tokens, stale unconfirmed accounts and old sent mail now",
    )
    housekeeping.add_argument("--json", action="store_true", help="print the counts as JSON")

    migrate = subcommand(
        commands,
        "migrate-to",
        run_migrate_to,
        common=common,
        help="copy this SQLite database into an empty PostgreSQL one (stop consoles first)",
    )
    migrate.add_argument("url", help="the target, postgresql://user:pass@host:5432/usher")
    migrate.add_argument(
        "--dry-run", action="store_true", help="count what would be copied, write nothing"
    )
    migrate.add_argument("--json", action="store_true", help="print the counts as JSON")


def run_backup(args: argparse.Namespace, settings: Settings) -> int:
    report: BackupReport = with_store(settings, lambda store: store.backup(args.file))
    if getattr(args, "json", False):
        print(msgspec.json.encode(report).decode())
    else:
        print(
            f"Backed up {counted(report.users, 'user')} to {report.path} "
            f"({counted(report.bytes, 'byte')})."
        )
    return EXIT_OK


def run_restore(args: argparse.Namespace, settings: Settings) -> int:
    try:
        aside = restore(settings, args.file)
    except (BackupError, DatabaseInUse) as error:
        raise CliError(str(error)) from None
    print(f"Restored {args.file} into {settings.db}; the previous database is kept as {aside}.")
    return EXIT_OK


def run_housekeeping_command(args: argparse.Namespace, settings: Settings) -> int:
    report: HousekeepingReport = with_store(
        settings, lambda store: run_housekeeping(store, actor=console_actor())
    )
    if getattr(args, "json", False):
        print(msgspec.json.encode(report).decode())
    else:
        sys.stdout.write("".join(f"{line}\n" for line in report.lines()))
    return EXIT_OK


def run_migrate_to(args: argparse.Namespace, settings: Settings) -> int:
    """The PostgreSQL engine is imported only here, so other commands start as before."""
    from store.database.migrate_to import MigrateError, MigrateReport, migrate_to

    dry_run = bool(getattr(args, "dry_run", False))
    try:
        report: MigrateReport = asyncio.run(migrate_to(settings.db, args.url, dry_run=dry_run))
    except (MigrateError, DatabaseInUse) as error:
        raise CliError(str(error)) from None
    if getattr(args, "json", False):
        print(msgspec.json.encode(report).decode())
        return EXIT_OK
    total = sum(report.rows.values())
    verb = "Would copy" if dry_run else "Copied"
    tables = counted(len(report.rows), "table")
    print(f"{verb} {counted(total, 'row')} of {tables} to {report.target}.")
    for table, rows in report.rows.items():
        if rows:
            print(f"  {table}: {rows}")
    return EXIT_OK
