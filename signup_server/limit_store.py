"""The memory store behind the per-client POST limit, which forgets what has expired.

Litestar's MemoryStore drops an expired key only when that same key is read again, so every
client that ever posted stays in memory for the process's lifetime (a slow leak that a
stranger can speed up). This one sweeps out every expired key at most once per
`sweep_every`, on a write, and reads time from store.clock (tests move it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from litestar.stores.base import Store

from store.clock import now

__all__ = ["ExpiringMemoryStore"]


class ExpiringMemoryStore(Store):
    def __init__(self, sweep_every: timedelta = timedelta(minutes=1)) -> None:
        self._values: dict[str, tuple[bytes, datetime | None]] = {}
        self._sweep_every = sweep_every
        self._next_sweep = now() + sweep_every

    def key_count(self) -> int:
        """Keys held now, expired or not (what a leak would grow). Not `__len__`: Litestar's
        store registry tests a store's truth and would replace an empty one."""
        return len(self._values)

    def _sweep(self, moment: datetime) -> None:
        if moment < self._next_sweep:
            return
        self._next_sweep = moment + self._sweep_every
        gone = [k for k, (_, end) in self._values.items() if end is not None and end <= moment]
        for key in gone:
            del self._values[key]

    def _live(self, key: str) -> tuple[bytes, datetime | None] | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= now():
            del self._values[key]
            return None
        return entry

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        moment = now()
        self._sweep(moment)
        data = value.encode("utf-8") if isinstance(value, str) else value
        if isinstance(expires_in, int):
            expires_in = timedelta(seconds=expires_in)
        self._values[key] = (data, moment + expires_in if expires_in else None)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        entry = self._live(key)
        if entry is None:
            return None
        if renew_for and entry[1] is not None:
            delta = timedelta(seconds=renew_for) if isinstance(renew_for, int) else renew_for
            self._values[key] = (entry[0], now() + delta)
        return entry[0]

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def delete_all(self) -> None:
        self._values.clear()

    async def exists(self, key: str) -> bool:
        return self._live(key) is not None

    async def expires_in(self, key: str) -> int | None:
        entry = self._live(key)
        if entry is None or entry[1] is None:
            return None
        return int((entry[1] - now()).total_seconds())
