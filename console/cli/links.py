"""`usher links create|list|revoke`: invite links from the command line (scripts, cron, SSH).

`create` prints the URL (or, with --json, the created link with its `url`); errors go to stderr
with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TypeVar

import msgspec

from store import Settings, Store
from store.accounts.audit import console_actor
from store.onboarding.links import (
    Link,
    LinkDraft,
    LinkError,
    create_link,
    list_links,
    parse_domains,
    parse_expiry,
    parse_level,
    parse_max_uses,
    revoke_link,
)

from .commands import subcommand
from .errors import EXIT_OK, CliError
from .language import add_language_argument, language_of
from .with_store import with_store

T = TypeVar("T")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    links = commands.add_parser(
        "links",
        help="create, list and revoke invite links",
        description="Invite links: anyone with the URL can create an account at its level.",
    )
    actions = links.add_subparsers(dest="links_action", metavar="ACTION", required=True)

    create = subcommand(
        actions, "create", run_create, common=common, help="create a link and print its URL"
    )
    create.add_argument("--level", required=True, help="admin, manager, member or viewer")
    secret = create.add_mutually_exclusive_group()
    secret.add_argument(
        "--password", help="require this password to use the link (visible in `ps`)"
    )
    secret.add_argument(
        "--password-file", help="read the link password from a file; - reads standard input"
    )
    create.add_argument(
        "--require-approval", action="store_true", help="new accounts wait for approval"
    )
    create.add_argument(
        "--no-confirm", action="store_true", help="do not ask people to confirm their email"
    )
    create.add_argument("--max-uses", help="at most this many accounts (default: no cap)")
    create.add_argument("--expires", help="30d, 12h, 2w, 1y or never (default 30d)")
    create.add_argument("--domains", help="only addresses at these domains: acme.org,*.acme.org")
    create.add_argument(
        "--allow-unconfirmed-domains",
        action="store_true",
        help="allow --domains with --no-confirm (the address is then not proved: anyone with "
        "the link can sign up as any address at those domains)",
    )
    create.add_argument("--label", help="a name for the link, shown to admins only")
    add_language_argument(create, whose="the link's")
    create.add_argument("--public-url", help="URL people open (USHER_PUBLIC_URL)")
    create.add_argument("--json", action="store_true", help="print the created link as JSON")

    listing = subcommand(actions, "list", run_list, common=common, help="list every link")
    listing.add_argument("--public-url", help="URL people open (USHER_PUBLIC_URL)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    revoke = subcommand(
        actions,
        "revoke",
        run_revoke,
        common=common,
        help="stop a link at once (accounts made through it stay)",
    )
    revoke.add_argument("id", help="the link's numeric id (see `usher links list`)")


# --- output --------------------------------------------------------------------------------------


def link_json(link: Link, settings: Settings) -> dict[str, Any]:
    """The link as scripts see it: snake_case keys, times in ISO 8601 (UTC)."""
    return {
        "id": link.id,
        "url": link.url(settings),
        "token": link.token,
        "label": link.label,
        "level": link.level,
        "state": link.state(),
        "summary": link.summary(),
        "auto_accept": link.auto_accept,
        "confirm_email": link.confirm_email,
        "has_password": link.has_password,
        "domains": list(link.domains),
        "language": link.language,
        "max_uses": link.max_uses,
        "uses": link.uses,
        "expires_at": link.expires_at,
        "revoked_at": link.revoked_at,
        "created_at": link.created_at,
        "created_by": link.created_by,
    }


def _print_json(value: Any) -> None:
    print(msgspec.json.format(msgspec.json.encode(value).decode(), indent=2))


def _table(links: list[Link], settings: Settings) -> str:
    header = ("ID", "STATE", "LEVEL", "LANG", "MODE", "USES", "EXPIRES", "LABEL")
    rows = [
        (
            str(link.id),
            link.state(),
            link.level,
            link.language or "—",
            link.join_mode,
            link.uses_text,
            "—" if link.revoked_at else link.expires_text(),
            link.label,
        )
        for link in links
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for index, row in enumerate([header, *rows]):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
        if index:
            lines.append("    " + links[index - 1].url(settings))
    return "\n".join(lines)


# --- handlers ------------------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str | None:
    if getattr(args, "password", None) is not None:
        return str(args.password)
    path = getattr(args, "password_file", None)
    if path is None:
        return None
    try:
        if path == "-":
            text = sys.stdin.readline()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.readline()
    except OSError as error:
        raise CliError(f"cannot read the password file {path!r}: {error.strerror}") from None
    password = text.rstrip("\r\n")
    if not password:
        raise CliError("the password file is empty")
    return password


def _draft(args: argparse.Namespace) -> LinkDraft:
    language = language_of(args)
    try:
        return LinkDraft(
            label=getattr(args, "label", "") or "",
            level=parse_level(args.level),
            password=_read_password(args),
            auto_accept=not getattr(args, "require_approval", False),
            confirm_email=not getattr(args, "no_confirm", False),
            expires_in=parse_expiry(getattr(args, "expires", "30d")),
            max_uses=parse_max_uses(getattr(args, "max_uses", "") or ""),
            domains=parse_domains(getattr(args, "domains", "") or ""),
            allow_unconfirmed_domains=getattr(args, "allow_unconfirmed_domains", False),
            language=language,
        )
    except LinkError as error:
        raise CliError(str(error)) from None


def run_create(args: argparse.Namespace, settings: Settings) -> int:
    draft = _draft(args)
    if draft.confirm_email and not settings.smtp_configured:
        print(
            "usher: note: no SMTP server is configured (USHER_SMTP_URL): confirmation emails "
            "will wait in the outbox (see the console's Outbox screen)",
            file=sys.stderr,
        )
    if draft.domains and not draft.confirm_email:
        print(
            "usher: warning: this link does not confirm addresses, so --domains proves "
            "nothing: anyone with the link can sign up as any address at those domains",
            file=sys.stderr,
        )

    async def work(store: Store) -> tuple[Link, Settings]:
        return await create_link(store, draft, actor=console_actor()), store.settings

    link, settings = with_store(settings, work)
    if getattr(args, "json", False):
        _print_json(link_json(link, settings))
    else:
        print(link.url(settings))
    return EXIT_OK


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> tuple[list[Link], Settings]:
        return await list_links(store), store.settings

    links, settings = with_store(settings, work)
    if getattr(args, "json", False):
        _print_json([link_json(link, settings) for link in links])
    elif links:
        print(_table(links, settings))
    else:
        print("No invite links yet. Create one with: usher links create --level member")
    return EXIT_OK


def run_revoke(args: argparse.Namespace, settings: Settings) -> int:
    raw = str(args.id).strip().lstrip("#")
    if not raw.isdigit():
        raise CliError(f"link id must be a number, not {args.id!r} (see `usher links list`)")

    link = with_store(settings, lambda store: revoke_link(store, int(raw), actor=console_actor()))
    name = f" ({link.label})" if link.label else ""
    print(f"revoked link #{link.id}{name}: its URL no longer works")
    return EXIT_OK
