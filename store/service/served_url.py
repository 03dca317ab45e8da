"""Which URL people open: the one a running signup server recorded, else the configured one.

A console started with `--no-server` (an SSH session, a second terminal) knows nothing of the
port or public URL the real server was started with. So each serving process records its public
URL in the database for as long as it serves, and every console shows, copies and mails that.
A record only counts while its process lives: the process holds an exclusive lock on a mark file
(`store.database.instance_lock.HolderMark`), which the kernel drops when it dies, even by `kill -9`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec

from store.database.core import Store
from store.database.instance_lock import HolderMark, holder_gone, holders_dir
from store.domain.clock import from_db, now, to_db
from store.service.settings import Settings

TOPIC = "servers"


class ServedUrl(msgspec.Struct, frozen=True):
    """A live serving process: its public URL, where it runs, since when."""

    url: str
    host: str
    pid: int
    started_at: datetime


def _mark_owner(serving_id: str) -> str:
    return f"server-{serving_id}"


def _alive(db: str, serving_id: str) -> bool:
    owner = _mark_owner(serving_id)
    if holder_gone(db, owner):
        return False  # its mark exists and nobody holds it: the process died
    return (holders_dir(db) / f"{owner}.lock").exists()


@contextlib.asynccontextmanager
async def serving(store: Store, url: str) -> AsyncIterator[ServedUrl]:
    """Record `url` as served by this process for the length of the block."""
    serving_id = uuid.uuid4().hex
    mark = HolderMark(store.path, _mark_owner(serving_id))
    record = ServedUrl(url=url, host=socket.gethostname(), pid=os.getpid(), started_at=now())
    try:
        async with store.write(TOPIC) as tx:
            await tx.execute(
                "INSERT INTO servers (id, url, host, pid, started_at) VALUES (?, ?, ?, ?, ?)",
                (serving_id, url, record.host, record.pid, to_db(record.started_at)),
            )
        yield record
    finally:
        try:
            async with store.write(TOPIC) as tx:
                await tx.execute("DELETE FROM servers WHERE id = ?", (serving_id,))
        finally:
            mark.release()


async def current_server(store: Store) -> ServedUrl | None:
    """The newest live serving process; records of dead ones are removed on the way."""
    rows = await store.engine.fetchall(
        "SELECT id, url, host, pid, started_at FROM servers ORDER BY started_at DESC"
    )
    dead: list[str] = []
    found: ServedUrl | None = None
    for row in rows:
        serving_id = str(row[0])
        if not _alive(store.path, serving_id):
            dead.append(serving_id)
            continue
        found = ServedUrl(
            url=str(row[1]), host=str(row[2]), pid=int(row[3]), started_at=from_db(str(row[4]))
        )
        break
    if dead:
        async with store.write(TOPIC) as tx:
            for serving_id in dead:
                await tx.execute("DELETE FROM servers WHERE id = ?", (serving_id,))
    return found


def settings_for_links(configured: Settings, server: ServedUrl | None) -> Settings:
    """The settings a console builds URLs with: the live server's public URL wins over what
    this process was configured with (it may have been started without the server's flags)."""
    if server is None or server.url == configured.base_url:
        return configured
    return msgspec.structs.replace(configured, public_url=server.url)
