"""`usher admins add|list|remove|set-role`: who may open the console over SSH, and as what.

Run by the operator on the server (as the service account): the local command line acts as an
owner, so it can always repair the registry, whoever was removed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from store import Settings
from store.accounts.acting import ROLES
from store.accounts.admins import Admin, add_admin, list_admins, remove_admin, set_role
from store.accounts.audit import console_actor

from .commands import subcommand
from .errors import EXIT_OK, CliError
from .with_store import with_store

T = TypeVar("T")
MAX_KEY_BYTES = 64 * 1024


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    admins = commands.add_parser(
        "admins",
        help="register the admins who open the console over SSH",
        description="Admins sign in to `usher serve --ssh-port N` with their SSH key alone.",
    )
    actions = admins.add_subparsers(dest="admins_action", metavar="ACTION", required=True)

    add = subcommand(
        actions, "add", run_add, common=common, omitted=None, help="register an admin's public key"
    )
    add.add_argument("name", metavar="NAME", help="how the audit log names them")
    add.add_argument(
        "--key", required=True, metavar="FILE", help="their OpenSSH public key (.pub); - = stdin"
    )
    add.add_argument("--role", required=True, choices=ROLES, help="owner, manager or approver")

    listing = subcommand(
        actions, "list", run_list, common=common, omitted=None, help="list the admins"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    remove = subcommand(
        actions,
        "remove",
        run_remove,
        common=common,
        omitted=None,
        help="remove an admin (their SSH sessions end)",
    )
    remove.add_argument("name", metavar="NAME")

    role = subcommand(
        actions,
        "set-role",
        run_set_role,
        common=common,
        omitted=None,
        help="change an admin's role",
    )
    role.add_argument("name", metavar="NAME")
    role.add_argument("role", metavar="ROLE", choices=ROLES)


def _read_key(source: str) -> str:
    try:
        if source == "-":
            return sys.stdin.read(MAX_KEY_BYTES)
        with Path(source).open(encoding="utf-8", errors="replace") as handle:
            return handle.read(MAX_KEY_BYTES)
    except OSError as error:
        raise CliError(f"cannot read the key {source!r}: {error.strerror}") from None


def admin_json(admin: Admin) -> dict[str, Any]:
    return {
        "name": admin.name,
        "role": admin.role,
        "fingerprint": admin.fingerprint,
        "public_key": admin.public_key,
        "created_at": msgspec.json.encode(admin.created_at).decode().strip('"'),
        "created_by": admin.created_by,
    }


def run_add(args: argparse.Namespace, settings: Settings) -> int:
    key = _read_key(args.key)
    admin = with_store(
        settings,
        lambda store: add_admin(store, args.name, key, args.role, actor=console_actor()),
    )
    print(f"added {admin.name} ({admin.role}), key {admin.fingerprint}")
    return EXIT_OK


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    admins = with_store(settings, list_admins)
    if getattr(args, "json", False):
        print(msgspec.json.encode([admin_json(a) for a in admins]).decode())
    elif admins:
        width = max(len(a.name) for a in admins)
        for a in admins:
            print(f"{a.name:<{width}}  {a.role:<8}  {a.fingerprint}")
    else:
        print("No admins yet. Add one with: usher admins add NAME --key FILE.pub --role owner")
    return EXIT_OK


def run_remove(args: argparse.Namespace, settings: Settings) -> int:
    admin = with_store(
        settings,
        lambda store: remove_admin(store, args.name, actor=console_actor()),
    )
    print(f"removed {admin.name}: their key no longer opens the console")
    return EXIT_OK


def run_set_role(args: argparse.Namespace, settings: Settings) -> int:
    admin = with_store(
        settings,
        lambda store: set_role(store, args.name, args.role, actor=console_actor()),
    )
    print(f"{admin.name} is now {admin.role}")
    return EXIT_OK
