"""How a command is declared: one `subcommand` call names it, gives it the shared flags and its
handler, so no command forgets `--db` or lets an omitted flag override a USHER_* setting."""

from __future__ import annotations

import argparse
from typing import Any

from .errors import Handler

__all__ = ["subcommand"]


def subcommand(
    group: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    *,
    common: argparse.ArgumentParser,
    omitted: Any = argparse.SUPPRESS,
    **options: Any,
) -> argparse.ArgumentParser:
    """`usher … NAME`: its parser, taking the shared flags of `common`. A flag left out is
    absent from the namespace (`omitted`, SUPPRESS), so the settings from USHER_* stand;
    `omitted=None` gives handlers that read every flag a None instead."""
    parser = group.add_parser(name, parents=[common], argument_default=omitted, **options)
    parser.set_defaults(handler=handler)
    return parser
