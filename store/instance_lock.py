"""Which processes are serving a database: each console or `usher serve` holds a shared
`flock` on `<db>.lock` while it runs; `usher restore` needs it exclusively.

The kernel drops the lock when a process dies, so a crash never leaves a stale "running" mark.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class DatabaseInUse(Exception):
    """Another Usher process has the database open; the message says what to do."""


def lock_path(db: str | os.PathLike[str]) -> Path:
    path = Path(db).expanduser().resolve()
    return path.with_name(path.name + ".lock")


class RunningMark:
    """A shared lock held for as long as this process uses the database."""

    def __init__(self, db: str | os.PathLike[str]) -> None:
        self._fd = os.open(lock_path(db), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@contextlib.contextmanager
def exclusive(db: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the database alone (no console or server running on it), or raise DatabaseInUse."""
    fd = os.open(lock_path(db), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUse(
                f"an Usher console or server is running on {str(db)!r}: stop it first"
            ) from None
        yield
    finally:
        os.close(fd)
