"""`usher webhooks secret`: print a fresh webhook signing secret (`whsec_<base64>`)."""

from __future__ import annotations

import argparse
from typing import Any

from store.messaging.webhook_secret import new_secret

from .errors import EXIT_OK


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    webhooks = commands.add_parser(
        "webhooks",
        parents=[common],
        argument_default=argparse.SUPPRESS,
        help="webhook helpers",
    )
    actions = webhooks.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)
    secret = actions.add_parser(
        "secret",
        parents=[common],  # takes --db like every command, and ignores it
        argument_default=argparse.SUPPRESS,
        help="print a fresh USHER_WEBHOOK_SECRET (whsec_…) to give Usher and the receiver",
    )
    secret.set_defaults(plain_handler=run_secret)


def run_secret(args: argparse.Namespace) -> int:
    print(new_secret())
    return EXIT_OK
