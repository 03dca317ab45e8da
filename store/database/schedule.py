"""Scheduled work (housekeeping, the admin digest) runs on one server at a time.

On SQLite every process runs it, as before (each pass is one transaction, a second finds
nothing left). On PostgreSQL, where many `usher serve` share one database, only the process
holding a session advisory lock does; when it dies, PostgreSQL releases the lock and the next
process to look takes it over.
"""

from __future__ import annotations

from store.database.core import Store


async def runs_scheduled_work(store: Store) -> bool:
    """Whether this process should run the scheduled work now (ask before each pass)."""
    holds = getattr(store.engine, "holds_scheduler_lock", None)
    if holds is None:
        return True
    return bool(await holds())
