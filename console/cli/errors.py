"""What every command shares: exit statuses and the one error a command raises when nothing
could be done (printed as `usher: error: …`, exit status 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from store import Settings

EXIT_OK = 0
EXIT_FAILED = 2

Handler = Callable[[argparse.Namespace, Settings], int]
"""A subcommand: its parsed flags and the settings they make, to an exit status."""


class CliError(Exception):
    """Nothing could be done; the message is printed as `usher: error: …` with exit status 2."""
