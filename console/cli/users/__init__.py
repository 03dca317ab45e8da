"""`usher users …`: one group, its subcommands each in a module of their own (list, approve and
reject; add; import; delete and export)."""

from __future__ import annotations

import argparse

from . import add, decide, import_lines, ops

__all__ = ["register"]


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    users = commands.add_parser(
        "users",
        help="list, approve, reject, add, import, export or delete users",
        description="Manage users. An ID is the numeric id or the email address.",
    )
    group = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    for module in (decide, add, import_lines, ops):
        module.register(group, common)
