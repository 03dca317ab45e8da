"""Readiness: can this process write to its database right now?

`/readyz` and `usher check` ask it. The probe takes the write lock and changes a row, then rolls
back: it proves the file, its folder and the lock are usable, and it commits nothing, so other
processes' change feeds are not woken by every probe.
"""

from __future__ import annotations

from store.database.core import Store

__all__ = ["database_writable"]


class _RollBack(Exception):
    """Raised inside the probe's transaction to undo it."""


async def database_writable(store: Store) -> str:
    """`""` when a write would succeed now, else one line saying why not."""
    try:
        async with store.engine.write() as tx:
            changed = await tx.execute("UPDATE meta SET value = value WHERE key = 'secret_key'")
            if changed != 1:
                return "the database has no secret key row (not an Usher database?)"
            raise _RollBack
    except _RollBack:
        return ""
    except Exception as error:  # whatever it is, the process is not ready
        return f"{type(error).__name__}: {error}".splitlines()[0]
