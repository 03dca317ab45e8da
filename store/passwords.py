"""Password hashing (argon2id, off the event loop, capped in flight) and the password policy.

Policy follows NIST SP 800-63B: 8 to 128 code points after NFKC, no composition rules, no
truncation, refused when common or equal to the person's own email or name.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 128
PROGRESS_EVERY = 0.05
"""Seconds between a batch-hashing thread's progress reports to the event loop."""

# OWASP's minimum for argon2id: m=19 MiB, t=2, p=1 (~27 ms here).
DEFAULT_TIME_COST = 2
DEFAULT_MEMORY_KIB = 19 * 1024
DEFAULT_PARALLELISM = 1

OWASP_MINIMUMS: tuple[tuple[int, int], ...] = (
    (46 * 1024, 1),
    (19 * 1024, 2),
    (12 * 1024, 3),
    (9 * 1024, 4),
    (7 * 1024, 5),
)
"""OWASP's Password Storage Cheat Sheet: equally strong argon2id (memory KiB, iterations) pairs
at parallelism 1. A configuration is strong enough when it meets or exceeds one of them."""


class PasswordRejected(ValueError):
    """The password breaks the policy; the message is shown to the person as is."""


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("store").joinpath("data/common_passwords.txt").read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line.casefold() for line in lines if line and not line.startswith("#"))


def password_problem(password: str, *, email: str = "", names: tuple[str, ...] = ()) -> str | None:
    """Why `password` is refused, or None when it is acceptable."""
    candidate = normalise(password)
    length = len(candidate)
    if length < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters (this one has {length})."
    if length > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters (this one has {length})."
    folded = candidate.casefold()
    if folded in common_passwords():
        return "This password is too common: choose one that others are unlikely to use."
    own = {email.casefold(), email.split("@")[0].casefold()} | {n.casefold() for n in names}
    own.discard("")
    if folded in own or folded.replace(" ", "") in {o.replace(" ", "") for o in own}:
        return "Don't use your email address or name as your password."
    return None


def meets_owasp_minimum(*, memory_kib: int, time_cost: int, parallelism: int) -> bool:
    """Whether argon2id parameters are at least one of OWASP's minimum configurations."""
    return parallelism >= 1 and any(
        memory_kib >= memory and time_cost >= iterations for memory, iterations in OWASP_MINIMUMS
    )


def too_long(password: str) -> bool:
    """Longer than any password Usher accepts, however it is counted: account passwords are at
    most MAX_LENGTH after NFKC, link passwords at most MAX_LENGTH as typed. Checked before any
    hashing, so a huge "password" costs no argon2 work."""
    return len(password) > MAX_LENGTH and len(normalise(password)) > MAX_LENGTH


def check_password(password: str, *, email: str = "", names: tuple[str, ...] = ()) -> str:
    """The normalised password, or PasswordRejected with the reason."""
    problem = password_problem(password, email=email, names=names)
    if problem:
        raise PasswordRejected(problem)
    return normalise(password)


class Hasher:
    """argon2id in worker threads; a semaphore caps hashes in flight (hashing is a DoS lever).

    argon2-cffi releases the GIL, so a pool of one thread per core runs close to the floor.
    """

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_kib: int = DEFAULT_MEMORY_KIB,
        parallelism: int = DEFAULT_PARALLELISM,
        max_in_flight: int | None = None,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._slots = asyncio.Semaphore(max_in_flight or os.cpu_count() or 2)
        self._dummy_hash: str | None = None
        self.calls = 0
        """How many hash or verify operations ran (tests check that sign-in always does one)."""

    async def hash(self, password: str) -> str:
        """The PHC string of `password`; PasswordRejected, without hashing, when too long."""
        if too_long(password):
            raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
        async with self._slots:
            self.calls += 1
            return await asyncio.to_thread(self._hash_sync, normalise(password))

    async def verify(self, stored: str, password: str) -> bool:
        """Whether `password` matches `stored`; a too-long one is False without hashing."""
        if too_long(password):
            return False
        async with self._slots:
            self.calls += 1
            return await asyncio.to_thread(self._verify_sync, stored, normalise(password))

    async def verify_nothing(self, password: str) -> None:
        """The same work as a real verify, for unknown accounts (no timing oracle)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("dummy password for unknown accounts")
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    async def hash_all(
        self,
        passwords: Sequence[str],
        *,
        progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[str | None]:
        """The PHC string of every password, in order (None for those not reached because
        `should_stop()` said so).

        For batches (a bulk import's "given" passwords): one thread per core, each taking the
        next password itself, so no hash waits on the event loop to be handed out — the loop
        only hears `progress(count)` about every PROGRESS_EVERY seconds per thread.
        `should_stop` is called from those threads before each hash: it must only read state
        (a flag). The semaphore is not taken: a signup's hash runs beside the batch (the cores
        are shared) instead of queueing behind all of it. Each password must already have
        passed `check_password`; one that is too long is refused before any thread starts.
        """
        for password in passwords:
            if too_long(password):
                raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
        results: list[str | None] = [None] * len(passwords)
        loop = asyncio.get_running_loop()
        abandoned = threading.Event()
        taken = itertools.count()  # next() on it is atomic under the GIL: one taker per index
        counting = threading.Lock()

        def stopping() -> bool:
            return abandoned.is_set() or (should_stop is not None and should_stop())

        def work() -> None:
            unreported, last = 0, time.monotonic()
            while not stopping():
                index = next(taken)
                if index >= len(passwords):
                    break
                with counting:
                    self.calls += 1
                results[index] = self._hash_sync(normalise(passwords[index]))
                unreported += 1
                if progress is not None and time.monotonic() - last >= PROGRESS_EVERY:
                    loop.call_soon_threadsafe(progress, unreported)
                    unreported, last = 0, time.monotonic()
            if progress is not None and unreported:
                loop.call_soon_threadsafe(progress, unreported)

        threads = min(len(passwords), os.cpu_count() or 2)
        if threads == 0:
            return results
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hash")
        try:
            await asyncio.gather(*(asyncio.wrap_future(pool.submit(work)) for _ in range(threads)))
        except BaseException:
            abandoned.set()  # each thread finishes the hash it is on, then ends
            raise
        finally:
            pool.shutdown(wait=False)  # never block the loop on a thread's last hash
        return results

    def _hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    def _verify_sync(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
