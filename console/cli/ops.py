"""Operators' commands: `usher backup FILE`, `usher restore FILE`, `usher housekeeping`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from store import Settings
from store.audit import console_actor
from store.backup import BackupError, BackupReport, restore
from store.housekeeping import HousekeepingReport, run_housekeeping
from store.instance_lock import DatabaseInUse

from ..words import counted
from .errors import EXIT_OK, CliError
from .with_store import with_store


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    backup = commands.add_parser(
        "backup",
        parents=[common],
        argument_default=argparse.SUPPRESS,
        help="write a consistent copy of the live database to a new file (mode 0600)",
    )
    backup.add_argument("file", help="the new backup file")
    backup.add_argument("--json", action="store_true", help="print the result as JSON")
    backup.set_defaults(handler=run_backup)

    restore_cmd = commands.add_parser(
        "restore",
        parents=[common],
        argument_default=argparse.SUPPRESS,
        help="replace the database with a backup (stop consoles and servers first)",
    )
    restore_cmd.add_argument("file", help="a file written by `usher backup`")
    restore_cmd.set_defaults(handler=run_restore)

    housekeeping = commands.add_parser(
        "housekeeping",
        parents=[common],
        argument_default=argparse.SUPPRESS,
        help="delete expired tokens, stale unconfirmed accounts and old sent mail now",
    )
    housekeeping.add_argument("--json", action="store_true", help="print the counts as JSON")
    housekeeping.set_defaults(handler=run_housekeeping_command)


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
