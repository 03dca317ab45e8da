"""Password hashing (argon2id, off the event loop, capped in flight) and the password policy.

Policy follows NIST SP 800-63B: 8 to 128 code points after NFKC, no composition rules, no
truncation, refused when common or equal to the person's own email or name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import unicodedata
from collections.abc import AsyncIterator
from functools import cache
from importlib import resources

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 128

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
        self.waiting = 0
        """Operations waiting for a free slot now (the hash queue `/metrics` reports)."""

    async def hash(self, password: str) -> str:
        """The PHC string of `password`; PasswordRejected, without hashing, when too long."""
        if too_long(password):
            raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
        async with self._slot():
            self.calls += 1
            return await asyncio.to_thread(self._hash_sync, normalise(password))

    async def verify(self, stored: str, password: str) -> bool:
        """Whether `password` matches `stored`; a too-long one is False without hashing."""
        if too_long(password):
            return False
        async with self._slot():
            self.calls += 1
            return await asyncio.to_thread(self._verify_sync, stored, normalise(password))

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

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

    def _hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    def _verify_sync(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
