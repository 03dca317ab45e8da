"""The `usher` parser, its shared flags, `main`, and the two long-running commands (`console`,
`serve`); every other command group registers itself from its own module."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from store import Settings, SettingsError, Store, StoreError, load_settings
from store.service.served_url import current_server
from store.service.version import usher_version

from .errors import EXIT_FAILED, EXIT_OK, CliError, Handler


def _server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address the signup server listens on (USHER_HOST)")
    default_port = Settings.__struct_defaults__[Settings.__struct_fields__.index("port")]
    parser.add_argument(
        "--port",
        type=int,
        help=f"port of the signup server (USHER_PORT, default {default_port}); 0 = any free one",
    )
    parser.add_argument("--public-url", help="URL people open, used in links (USHER_PUBLIC_URL)")


def _db_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", help="SQLite database file or postgresql:// URL (USHER_DB, default ./usher.db)"
    )


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    _db_flag(common)
    server = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    _server_flags(server)

    parser = argparse.ArgumentParser(
        prog="usher",
        description="Bring people into your organisation's account.",
        parents=[common, server],
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--no-server", action="store_true", help="open the console alone")
    parser.add_argument("--version", action="version", version=f"usher {usher_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    console = commands.add_parser(
        "console",
        parents=[common, server],
        help="open the console (the default)",
        argument_default=argparse.SUPPRESS,
    )
    console.add_argument(
        "--no-server", action="store_true", help="do not start the signup server here"
    )
    console.add_argument("--version", action="version", version=f"usher {usher_version()}")
    console.set_defaults(handler=run_console)

    serve = commands.add_parser(
        "serve",
        parents=[common, server],
        help="run the signup server and mail delivery headless",
        argument_default=argparse.SUPPRESS,
    )
    serve.add_argument(
        "--ssh-port", type=int, help="also serve the console over SSH here (USHER_SSH_PORT)"
    )
    serve.set_defaults(handler=run_serve)

    for register in _extra_commands():
        register(commands, common)
    return parser


def _extra_commands() -> list[Callable[[Any, argparse.ArgumentParser], None]]:
    """Subcommands contributed by feature modules (links, invite, users, outbox, …)."""
    from . import admins, check, invite, links, ops, outbox, users, webhooks

    return [
        links.register,
        invite.register,
        users.register,
        outbox.register,
        ops.register,
        webhooks.register,
        admins.register,
        check.register,
    ]


def settings_from(args: argparse.Namespace) -> Settings:
    names = set(Settings.__struct_fields__)
    flags = {name: value for name, value in vars(args).items() if name in names}
    return load_settings(flags)


def run_console(args: argparse.Namespace, settings: Settings) -> int:
    from signup_server.runner import BindError, bind_socket, bound_port

    from ..app import UsherApp

    served_elsewhere = asyncio.run(_check_store(settings))
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError(
            "the console needs a terminal (standard input and output are not one); "
            "`usher serve` runs the signup server alone, and commands such as "
            "`usher users list` work without one"
        )
    # A `usher serve` already serves this database: open beside it, not with a second server
    # that would only find its port busy (the header names the server's URL).
    no_server = bool(getattr(args, "no_server", False)) or served_elsewhere
    sock = None
    reason = ""
    if not no_server:
        try:
            sock = bind_socket(settings.host, settings.port)
        except BindError as error:
            reason = str(error)
        else:
            if settings.port == 0:
                settings = settings.with_port(bound_port(sock))
    # A console the SSH server started: `usher serve` already delivers mail and keeps house.
    served_over_ssh = bool(os.environ.get("USHER_ADMIN"))
    app = UsherApp(
        settings,
        sock=sock,
        server_down_reason=reason,
        no_server=no_server,
        background=not served_over_ssh,
        leave_with_parent=served_over_ssh,
    )
    app.run()
    return app.return_code or EXIT_OK


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from signup_server.serve import ServeFailed, configure_logging, serve

    from ..ssh_server import ssh_console

    configure_logging(log_format=settings.log_format)
    try:
        asyncio.run(serve(settings, companions=[ssh_console]))
    except ServeFailed as error:
        raise CliError(str(error)) from None
    return EXIT_OK


async def _check_store(settings: Settings) -> bool:
    """Open (and migrate) the database once before the TUI takes the terminal, so an unusable
    file is a one-line error rather than a broken screen. True when a live signup server
    already serves it (store.service.served_url)."""
    store = await Store.open(settings, watch=False)
    try:
        await _act_as_ssh_admin(store)
        return await current_server(store) is not None
    finally:
        await store.close()


async def _act_as_ssh_admin(store: Store) -> None:
    """A console started by the SSH server acts as the admin it names (role from the database)."""
    name = os.environ.get("USHER_ADMIN")
    if not name:
        return
    from store.accounts.admins import AdminError, establish_admin

    key, peer = os.environ.get("USHER_ADMIN_KEY", ""), os.environ.get("USHER_ADMIN_PEER", "")
    try:
        await establish_admin(store, name, key, peer)
    except AdminError as error:
        raise CliError(str(error)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = getattr(args, "handler", run_console)
    try:
        plain: Callable[[argparse.Namespace], int] | None = getattr(args, "plain_handler", None)
        if plain is not None:  # needs no settings (a fresh secret, to fix a bad one)
            return plain(args)
        settings = settings_from(args)
        return handler(args, settings)
    except (CliError, SettingsError, StoreError) as error:
        print(f"usher: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
