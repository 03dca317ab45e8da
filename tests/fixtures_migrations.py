"""A database file as an older Usher left it, for tests of one migration step."""

from __future__ import annotations

from store.database.engine import Engine
from store.database.migrations import MIGRATIONS


async def migrate_below(engine: Engine, version: int) -> None:
    """Apply every migration step numbered below `version` (and nothing else)."""
    for number, script in MIGRATIONS:
        if number < version:
            step = script if callable(script) else script.replace("{secret_key}", "00" * 32)
            await engine.migrate(number, step)
