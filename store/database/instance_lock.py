"""Which processes are serving a database: each console or `usher serve` holds a shared
`flock` on `<db>.lock` while it runs; `usher restore` needs it exclusively.

The kernel drops the lock when a process dies, so a crash never leaves a stale "running" mark.
Delivery workers mark themselves the same way (`HolderMark`), so the leases of a worker that
died can be taken over at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO


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


def holders_dir(db: str | os.PathLike[str]) -> Path:
    path = Path(db).expanduser().resolve()
    return path.with_name(path.name + ".holders")


def _holder_file(db: str | os.PathLike[str], owner: str) -> Path:
    return holders_dir(db) / (owner.replace("/", "_") + ".lock")


class HolderMark:
    """A delivery worker's exclusive `flock` on `<db>.holders/<owner>.lock` while it holds
    leases: the kernel drops it when the process dies (even by `kill -9`), so another worker
    can prove the holder is gone (`holder_gone`) instead of waiting its leases out.

    The file is locked before it gets its name (rename), so no one ever sees it unlocked while
    its holder lives."""

    def __init__(self, db: str | os.PathLike[str], owner: str) -> None:
        folder = holders_dir(db)
        folder.mkdir(mode=0o700, exist_ok=True)
        self.path = _holder_file(db, owner)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._file: BinaryIO | None = open(temp, "wb")  # noqa: SIM115 - held for the lifetime
        os.chmod(temp, 0o600)
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        os.replace(temp, self.path)

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._file.close()
            self._file = None


def holder_gone(db: str | os.PathLike[str], owner: str) -> bool:
    """True only when `owner` provably holds nothing any more: its mark exists and nobody
    holds its lock (the process died). An owner without a mark (another version, another
    host) is not proven gone: its leases are left to expire."""
    path = _holder_file(db, owner)
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        with contextlib.suppress(OSError):
            path.unlink()  # the dead holder's mark: nobody needs it any more
        return True
    finally:
        os.close(fd)


def clear_dead_marks(db: str | os.PathLike[str], *, keep: Iterable[str] = ()) -> int:
    """Remove the marks of holders that died holding nothing (`keep`: owners that still hold
    leases, whose marks prove their death to the next claim); returns how many. A mark being
    made (a `.tmp` name) or held is left alone."""
    folder = holders_dir(db)
    kept = {_holder_file(db, owner).name for owner in keep}
    removed = 0
    try:
        names = [
            p
            for p in folder.iterdir()
            if p.suffix == ".lock" and not p.name.startswith(".") and p.name not in kept
        ]
    except OSError:
        return 0
    for path in names:
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        else:
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
        finally:
            os.close(fd)
    return removed
