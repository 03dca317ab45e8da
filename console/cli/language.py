"""`--language CODE` on `links create`, `invite`, `users add` and `users import`: the language
the admin sets for those people's pages and emails, checked against the shipped languages."""

from __future__ import annotations

import argparse
from typing import Any

from store.domain.languages import SHIPPED, checked_language

from .errors import CliError

__all__ = ["add_language_argument", "language_of"]

DEST = "people_language"
"""Not `language`: that name would also become the run's USHER_LANGUAGE (`settings_from`)."""


def add_language_argument(parser: Any, *, whose: str) -> None:
    """Add `--language` to `parser`; `whose` names what the language is set on."""
    parser.add_argument(
        "--language",
        dest=DEST,
        metavar="CODE",
        help=f"the language of {whose} pages and emails: {', '.join(SHIPPED)} (default: "
        "USHER_LANGUAGE, else the invitee's browser)",
    )


def language_of(args: argparse.Namespace) -> str | None:
    """The checked `--language`, or None when it was not given; a bad code is a CliError."""
    try:
        return checked_language(getattr(args, DEST, None))
    except ValueError as error:
        raise CliError(str(error)) from None
