"""`usher`: the command line. No subcommand opens the console.

Flags override `USHER_*` environment variables, which override defaults. Errors go to stderr
with exit status 2. `main` and the parser live in `main.py`; each command group in a module of
its own, which imports only `errors` (and `with_store`) from here — never this package.
"""

from __future__ import annotations

from .main import build_parser, main

__all__ = ["build_parser", "main"]
