"""`usher users list|approve|reject`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TextIO

from store import Settings, Store
from store.accounts.audit import console_actor
from store.accounts.users import (
    STATUSES,
    UserQuery,
    UserView,
    list_users,
    resolve_users,
    user_to_json,
)
from store.domain.text import clean_line
from store.onboarding.approvals import Decision, Verdict, approve, pending_ids, reject

from ..commands import subcommand
from ..errors import EXIT_OK, CliError
from ..with_store import with_store

__all__ = ["register"]


def register(
    group: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:

    listing = subcommand(
        group, "list", run_list, common=common, help="list users (every match unless --limit)"
    )
    listing.add_argument("--status", choices=STATUSES, help="only users with this status")
    listing.add_argument("--limit", type=_positive, help="at most N users (newest first)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    approving = subcommand(
        group,
        "approve",
        run_approve,
        common=common,
        help="approve pending users (they get an email)",
    )
    approving.add_argument("ids", nargs="*", metavar="ID", help="numeric id or email address")
    approving.add_argument("--all-pending", action="store_true", help="approve everyone pending")
    approving.add_argument("--json", action="store_true", help="print the outcome as JSON")

    rejecting = subcommand(
        group,
        "reject",
        run_reject,
        common=common,
        help="reject pending users (they get an email, with the reason if given)",
    )
    rejecting.add_argument("ids", nargs="+", metavar="ID", help="numeric id or email address")
    rejecting.add_argument("--reason", help="why; included in their email")
    rejecting.add_argument("--json", action="store_true", help="print the outcome as JSON")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _run(work: Callable[[Store], Coroutine[Any, Any, int]], settings: Settings) -> int:
    return with_store(settings, work)


# ---------------------------------------------------------------------------- list


def run_list(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    query = UserQuery(status=getattr(args, "status", None))
    limit: int | None = getattr(args, "limit", None)

    async def work(store: Store) -> int:
        users = await list_users(store.engine, query, limit=limit)
        if getattr(args, "json", False):
            json.dump([user_to_json(user) for user in users], out, ensure_ascii=False, indent=2)
            out.write("\n")
        else:
            _print_table(users, out)
        return EXIT_OK

    return _run(work, settings)


def _print_table(users: list[UserView], out: TextIO) -> None:
    if not users:
        print("No users.", file=out)
        return
    rows = [
        (
            str(user.id),
            clean_line(user.email),
            clean_line(user.name),
            user.level,
            user.status,
            clean_line(user.via),
            user.created_at.strftime("%Y-%m-%d %H:%M"),
        )
        for user in users
    ]
    header = ("ID", "EMAIL", "NAME", "LEVEL", "STATUS", "VIA", "CREATED (UTC)")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)


# ---------------------------------------------------------------------------- decisions


def run_approve(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    refs: list[str] = list(getattr(args, "ids", []))
    all_pending = bool(getattr(args, "all_pending", False))
    if all_pending and refs:
        raise CliError("give IDs or --all-pending, not both")
    if not all_pending and not refs:
        raise CliError("give the IDs (numeric id or email) to approve, or --all-pending")

    async def work(store: Store) -> int:
        if all_pending:
            ids = await pending_ids(store.engine)
            unknown: list[str] = []
            if not ids:
                _report(args, out, "approved", None, [], "No one is pending.")
                return EXIT_OK
        else:
            users, unknown = await resolve_users(store.engine, refs)
            ids = [user.id for user in users]
        decision = await approve(store, ids, actor=console_actor()) if ids else None
        return _report(args, out, "approved", decision, unknown)

    return _run(work, settings)


def run_reject(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    refs: list[str] = list(args.ids)
    reason: str = getattr(args, "reason", "") or ""

    async def work(store: Store) -> int:
        users, unknown = await resolve_users(store.engine, refs)
        ids = [user.id for user in users]
        decision = await reject(store, ids, actor=console_actor(), reason=reason) if ids else None
        return _report(args, out, "rejected", decision, unknown)

    return _run(work, settings)


def _report(
    args: argparse.Namespace,
    out: TextIO,
    verdict: Verdict,
    decision: Decision | None,
    unknown: list[str],
    note: str = "",
) -> int:
    """Print the outcome; exit 2 (CliError) when nothing at all could be done.

    `verdict` names the JSON list even when no one was decided (`{"rejected": [], …}`)."""
    decided = decision.decided if decision else []
    already = decision.already_decided if decision else []
    if getattr(args, "json", False):
        json.dump(
            {
                verdict: [
                    {"id": user.id, "email": user.email, "status": user.status} for user in decided
                ],
                "already_decided": [
                    {
                        "id": entry.id,
                        "email": entry.email,
                        "status": entry.status,
                        "decided_by": entry.decided_by,
                    }
                    for entry in already
                ],
                "not_found": unknown,
            },
            out,
            ensure_ascii=False,
            indent=2,
        )
        out.write("\n")
    else:
        if note:
            print(note, file=out)
        for user in decided:
            print(f"{verdict} {user.id} {clean_line(user.email)} (email queued)", file=out)
    for entry in already:
        print(f"usher: {clean_line(entry.describe(by_email=True))}: nothing sent", file=sys.stderr)
    for ref in unknown:
        print(f"usher: no user {clean_line(ref)!r}", file=sys.stderr)
    if not decided and (already or unknown):
        raise CliError("nothing was done: no given user was pending")
    return EXIT_OK
