"""`usher outbox …`: the outbox from the command line.

`list [--status S] [--json]` shows messages (newest first); `retry ID…|--all-failed` and
`send-kept` queue messages again for the running console or `usher serve` to deliver;
`test ADDRESS` queues a test message.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TypeVar

from store import Settings, Store
from store.accounts.audit import console_actor
from store.domain.text import clean_line
from store.domain.vocabulary import OUTBOX_STATUSES
from store.messaging.mail_limits import MAIL_LIMIT, held_back_counts
from store.messaging.outbox import (
    OutboxMessage,
    list_messages,
    retry,
    retry_all_failed,
    send_kept,
    send_test,
)

from .commands import subcommand
from .errors import EXIT_OK, CliError
from .with_store import with_store

T = TypeVar("T")
DELIVERY_NOTE = "A running `usher serve` or console delivers it."


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    outbox = commands.add_parser(
        "outbox", help="emails Usher has written: list, retry, send kept ones"
    )
    actions = outbox.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)

    listing = subcommand(
        actions, "list", run_list, common=common, omitted=None, help="list messages, newest first"
    )
    listing.add_argument("--status", choices=OUTBOX_STATUSES, help="only messages in this state")
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    again = subcommand(
        actions,
        "retry",
        run_retry,
        common=common,
        omitted=None,
        help="queue failed messages again now",
    )
    again.add_argument("ids", nargs="*", type=int, metavar="ID", help="message numbers")
    again.add_argument("--all-failed", action="store_true", help="every failed message")

    subcommand(
        actions,
        "send-kept",
        run_send_kept,
        common=common,
        omitted=None,
        help="queue every kept message for sending (needs USHER_SMTP_URL)",
    )

    test = subcommand(
        actions, "test", run_test, common=common, omitted=None, help="queue a test message"
    )
    test.add_argument("address", help="where to send it")


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _held_back_line(counts: dict[str, int]) -> str:
    """What the per-address mail limit held back (store.messaging.mail_limits), or "" when
    nothing."""
    if not counts:
        return ""
    kinds = ", ".join(f"{clean_line(kind)} {count}" for kind, count in counts.items())
    limit = f"{MAIL_LIMIT} of a kind to one address an hour"
    return f"Held back by the per-address limit ({limit}; never sent): {kinds}"


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    async def read(store: Store) -> tuple[list[OutboxMessage], dict[str, int]]:
        found = await list_messages(store, status=args.status)
        return found, await held_back_counts(store.engine)

    messages, held = with_store(settings, read)
    if args.json:
        keys = (
            "id",
            "recipient",
            "kind",
            "status",
            "attempts",
            "last_error",
            "created_at",
            "sent_at",
            "message_id",
        )
        items = [{key: message.to_json()[key] for key in keys} for message in messages]
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return EXIT_OK
    held_line = _held_back_line(held)
    if not messages:
        print("No messages" + (f" with status {args.status}." if args.status else "."))
        if held_line:
            print(held_line)
        return EXIT_OK
    rows = [
        [
            str(message.id),
            message.status,
            clean_line(message.recipient),
            clean_line(message.kind),
            str(message.attempts),
            f"{message.created_at.astimezone():%Y-%m-%d %H:%M}",
            clean_line(message.last_error)[:50],
        ]
        for message in messages
    ]
    print(_table(rows, ["ID", "STATUS", "RECIPIENT", "KIND", "TRIES", "CREATED", "LAST ERROR"]))
    if held_line:
        print(held_line)
    return EXIT_OK


def run_retry(args: argparse.Namespace, settings: Settings) -> int:
    if not args.ids and not args.all_failed:
        raise CliError("name the messages to retry (ID …) or pass --all-failed")
    actor = console_actor()

    async def work(store: Store) -> int:
        count = 0
        if args.all_failed:
            count += await retry_all_failed(store, actor)
        for message_id in args.ids:
            await retry(store, message_id, actor)
            count += 1
        return count

    count = with_store(settings, work)
    print(f"{count} message{'s' if count != 1 else ''} queued again. {DELIVERY_NOTE}")
    return EXIT_OK


def run_send_kept(args: argparse.Namespace, settings: Settings) -> int:
    count = with_store(settings, lambda store: send_kept(store, console_actor()))
    print(f"{count} kept message{'s' if count != 1 else ''} queued. {DELIVERY_NOTE}")
    return EXIT_OK


def run_test(args: argparse.Namespace, settings: Settings) -> int:
    outbox_id = with_store(settings, lambda store: send_test(store, args.address, console_actor()))
    if settings.smtp_configured:
        print(f"Test message #{outbox_id} queued. {DELIVERY_NOTE}")
    else:
        print(
            f"Test message #{outbox_id} kept (no USHER_SMTP_URL): see it in the console's "
            "Outbox (F9).",
            file=sys.stdout,
        )
    return EXIT_OK
