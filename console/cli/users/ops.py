"""`usher users delete ID…` (erasure) and `usher users export [--status S] [--format F] [FILE]`,
added to the `usher users` group of `cli_users`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TextIO

from store import Settings, Store
from store.accounts.audit import console_actor
from store.accounts.erasure import ErasureReport, erase_users
from store.accounts.users import STATUSES, UserView, resolve_users
from store.accounts.users_export import FORMATS, Format, export_text, export_to_file
from store.domain.text import clean_line

from ...words import counted
from ..commands import subcommand
from ..errors import EXIT_OK, CliError
from ..with_store import with_store


def register(
    group: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    delete = subcommand(
        group,
        "delete",
        run_delete,
        common=common,
        help="erase people: their account, invitations and messages; the audit keeps a pseudonym",
    )
    delete.add_argument("ids", nargs="+", metavar="ID", help="numeric id or email address")
    delete.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")
    delete.add_argument("--json", action="store_true", help="print the outcome as JSON")

    export = subcommand(
        group,
        "export",
        run_export,
        common=common,
        help="write every user (or one status) as CSV or JSON to FILE (0600) or standard output",
    )
    export.add_argument("file", nargs="?", metavar="FILE", help="a new file (default: stdout)")
    export.add_argument("--status", choices=STATUSES, help="only users with this status")
    export.add_argument("--format", choices=FORMATS, default="csv", help="csv (default) or json")


# ---------------------------------------------------------------------------- delete


def _ask(users: list[UserView], answer_in: TextIO, out: TextIO) -> bool:
    print(f"Erase {len(users)} user{'s' if len(users) != 1 else ''}?", file=out)
    for user in users:
        print(f"  {user.id}  {clean_line(user.email)}  {clean_line(user.name)}", file=out)
    print(
        "Their account, sessions, invitations and messages are deleted; the audit log keeps "
        "the events under a pseudonym. This cannot be undone.",
        file=out,
    )
    out.write("Type 'yes' to erase: ")
    out.flush()
    return answer_in.readline().strip().lower() in {"yes", "y"}


def run_delete(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    refs: list[str] = list(args.ids)
    confirmed = bool(getattr(args, "yes", False))
    as_json = bool(getattr(args, "json", False))
    if not confirmed and not sys.stdin.isatty():
        raise CliError("not a terminal, so nobody can confirm: add --yes to erase without asking")

    async def work(store: Store) -> tuple[ErasureReport | None, list[str]]:
        users, unknown = await resolve_users(store.engine, refs)
        if not users:
            return None, unknown
        # A human answers on the terminal; the blocking read stays off the event loop.
        if not confirmed and not await asyncio.to_thread(_ask, users, sys.stdin, sys.stderr):
            raise CliError("nothing was erased")
        report = await erase_users(store, [user.id for user in users], actor=console_actor())
        return report, unknown

    report, unknown = with_store(settings, work)
    erased = report.erased if report else []
    if as_json:
        json.dump(
            {
                "deleted": [{"id": e.user_id, "pseudonym": e.pseudonym} for e in erased],
                "not_found": unknown,
            },
            out,
            indent=2,
        )
        out.write("\n")
    else:
        for entry in erased:
            print(
                f"erased {entry.user_id} (now {entry.pseudonym} in the audit log; "
                f"{counted(entry.invitations_removed, 'invitation')}, "
                f"{counted(entry.messages_removed, 'message')} "
                "removed)",
                file=out,
            )
    for ref in unknown:
        print(f"usher: no user {clean_line(ref)!r}", file=sys.stderr)
    if not erased:
        raise CliError("nothing was erased: no given user exists")
    return EXIT_OK


# ---------------------------------------------------------------------------- export


def run_export(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    status = getattr(args, "status", None)
    fmt: Format = "json" if getattr(args, "format", "csv") == "json" else "csv"
    path: str | None = getattr(args, "file", None)

    async def work(store: Store) -> tuple[int, str]:
        if path is None:
            return await export_text(store.engine, status=status, fmt=fmt)
        return await export_to_file(store.engine, path, status=status, fmt=fmt), ""

    count, text = with_store(settings, work)
    if path is None:
        out.write(text)
    else:
        noun = "user" if count == 1 else "users"
        print(f"Wrote {count:,} {noun} to {path} ({fmt}, readable only by you).", file=sys.stderr)
    return EXIT_OK
