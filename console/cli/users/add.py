"""`usher users add --first F --last L --email E --level L [--password PW | --password-file F |
--generate-password] [--no-email] [--json]`: one account, at once.

Without a password option the person chooses one through the emailed link. A generated
one-time password is printed once (it is stored only as a digest). Refusals — an invalid
field, a weak password, an address that already has an account — are one line on stderr and
exit status 2; nothing is written then.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from store import Settings, Store
from store.accounts.audit import console_actor
from store.accounts.users import LEVELS, user_to_json
from store.domain.clock import to_db
from store.domain.text import clean_line
from store.onboarding.single_user import (
    AddressTaken,
    NewUserForm,
    Refused,
    UserAdded,
    add_user,
)

from ..commands import subcommand
from ..errors import EXIT_OK, CliError
from ..language import add_language_argument, language_of

FLAGS = {
    "first_name": "--first",
    "last_name": "--last",
    "email": "--email",
    "level": "--level",
    "password": "--password",
    "language": "--language",
}
"""Which flag a store field came from (for the one-line error)."""


def register(
    group: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    parser = subcommand(
        group,
        "add",
        run_add,
        common=common,
        help="add one user (their account exists at once; they are emailed)",
        description=(
            "Add one user. Without a password option they choose one with the single-use link "
            "in their email. --generate-password prints a one-time password once; it and "
            "--password must be changed at first sign-in. Passwords on the command line are "
            "visible to other local users: prefer --password-file - (standard input)."
        ),
    )
    parser.add_argument("--first", required=True, metavar="F", help="first name")
    parser.add_argument("--last", required=True, metavar="L", help="last name (may be empty)")
    parser.add_argument("--email", required=True, metavar="E", help="their email address")
    parser.add_argument("--level", required=True, choices=LEVELS, help="their user level")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password", metavar="PW", help="their first password (policy-checked)")
    secret.add_argument(
        "--password-file", metavar="F", help="read their first password from F (- = stdin)"
    )
    secret.add_argument(
        "--generate-password",
        action="store_true",
        help="make a one-time password and print it once",
    )
    parser.add_argument(
        "--no-email", action="store_true", help="do not email them the account information"
    )
    add_language_argument(parser, whose="their")
    parser.add_argument("--json", action="store_true", help="print the created user as JSON")


def _read_password(name: str) -> str:
    """The first line of F (or of stdin for `-`), without its line ending."""
    try:
        if name == "-":
            text = sys.stdin.read()
        else:
            with open(name, encoding="utf-8-sig") as file:
                text = file.read(64 * 1024)
    except FileNotFoundError:
        raise CliError(f"password file {name!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read password file {name!r}: {error}") from None
    lines = text.splitlines()
    password = lines[0] if lines else ""
    if not password:
        raise CliError(f"password file {name!r} is empty")
    return password


def form_from(args: argparse.Namespace) -> NewUserForm:
    password: str | None = getattr(args, "password", None)
    file: str | None = getattr(args, "password_file", None)
    if file is not None:
        password = _read_password(file)
    if getattr(args, "generate_password", False):
        choice = "generate"
    elif password is not None:
        choice = "set"
    else:
        choice = "link"
    return NewUserForm(
        first_name=args.first,
        last_name=args.last,
        email=args.email,
        level=args.level,
        choice=choice,
        password=password or "",
        send_email=not getattr(args, "no_email", False),
        language=language_of(args) or "",
    )


def run_add(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    form = form_from(args)

    async def work() -> int:
        async with await Store.open(settings, watch=False) as store:
            outcome = await add_user(store, form, actor=console_actor())
        if isinstance(outcome, Refused):
            raise CliError(
                "; ".join(
                    f"{FLAGS.get(field, field)}: {clean_line(message)}"
                    for field, message in outcome.errors.items()
                )
            )
        if isinstance(outcome, AddressTaken):
            raise CliError(
                f"{clean_line(outcome.email)} already has an account (id {outcome.user_id}): "
                "nothing was added"
            )
        if getattr(args, "json", False):
            json.dump(added_json(outcome), out, ensure_ascii=False, indent=2)
            out.write("\n")
        else:
            _print_added(outcome, settings, out)
        return EXIT_OK

    return asyncio.run(work())


def added_json(outcome: UserAdded) -> dict[str, Any]:
    """The created user (`usher users list --json` shape) plus how they get in."""
    value = user_to_json(outcome.user)
    value["password_choice"] = outcome.choice
    value["must_change_password"] = outcome.choice != "link"
    value["email_queued"] = outcome.email_queued
    if outcome.password_expires_at is not None:
        value["password_expires_at"] = to_db(outcome.password_expires_at)
    if outcome.credential is not None:
        value["one_time_password"] = outcome.credential
    return value


def _print_added(outcome: UserAdded, settings: Settings, out: TextIO) -> None:
    user = outcome.user
    name = clean_line(user.name)
    print(
        f"Added user {user.id}: {clean_line(user.email)}{f' ({name})' if name else ''} "
        f"as {user.level}.",
        file=out,
    )
    if outcome.email_queued:
        where = "queued" if settings.smtp_configured else "kept in the outbox (no SMTP configured)"
        print(f"Email with the account information and a set-password link {where}.", file=out)
    elif outcome.choice == "link":
        print(
            "No email sent: they can choose a password with “Forgot your password?” at "
            f"{settings.base_url}/login.",
            file=out,
        )
    if outcome.credential is not None and outcome.password_expires_at is not None:
        expires = outcome.password_expires_at.strftime("%Y-%m-%d %H:%M UTC")
        print(
            f"One-time password (shown only now; it expires {expires} and must be changed at "
            "first sign-in):",
            file=out,
        )
        print(f"  {outcome.credential}", file=out)
    elif outcome.choice == "set":
        print("They must change the password you set at first sign-in.", file=out)
