"""Password hashing (argon2id, off the event loop, capped in flight) and the password policy.

Policy follows NIST SP 800-63B: 8 to 128 code points after NFKC, no composition rules, no
truncation, refused when common, equal to the person's own email or name, or easy to guess by
zxcvbn's estimate (which knows ~30,000 common passwords, names, words, dates, keyboard walks and
l33t spellings) with the organisation's name and the person's own name and address as words an
attacker would try first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from store.domain.refusal import Refused

MIN_LENGTH = 8
MAX_LENGTH = 128
PROGRESS_EVERY = 0.05
"""Seconds between a batch-hashing thread's progress reports to the event loop."""

MIN_SCORE = 3
"""zxcvbn's score a password needs (0-4). Score 3 means an estimated 10^8 guesses or more —
zxcvbn's "safely unguessable: moderate protection from an offline slow-hash scenario", which is
ours: online, sign-in is throttled long before 10^8 tries; offline, after a stolen database,
every guess costs an argon2id hash (~20 ms of a core at OWASP's minimum), so 10^8 guesses are
weeks of a core for one account. Score 4 (10^10) would also refuse many good passphrases;
score 2 lets `Welcome2024!` and `Acme2026!` through."""

MAX_ESTIMATED = 32
"""Code points of a password that zxcvbn reads. Its matching grows faster than the square of
the length (measured: ~20 ms at 16 characters, ~60 ms at 32, ~250 ms at 64 for a run of digits,
a busy 2-core machine), and a stranger chooses the length. Characters beyond 32 only add
guesses, so the first 32 decide: 32 strong ones pass whatever follows, and 32 weak ones are
refused even before a strong tail (rare; the person is told to add words). Passwords are
still hashed and compared whole, never truncated."""

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


class PasswordRejected(Refused, ValueError):
    """The password breaks the policy; the message is shown to the person as is."""


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("store").joinpath("data/common_passwords.txt").read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line.casefold() for line in lines if line and not line.startswith("#"))


_WORD_BREAKS = re.compile(r"[\W_]+")


def context_words(*texts: str) -> tuple[str, ...]:
    """The words an attacker who knows the person would try first: each text whole (an
    address also as its local part and domain labels) and word by word, casefolded."""
    words: set[str] = set()
    for text in texts:
        folded = text.casefold().strip()
        if not folded:
            continue
        local, _, domain = folded.partition("@")
        words.update((folded, local, folded.replace(" ", "")))
        words.update(_WORD_BREAKS.split(local))
        words.update(domain.split(".")[:-1] if domain else ())
        if not domain:
            words.update(_WORD_BREAKS.split(folded))
    return tuple(sorted(word for word in words if len(word) >= 2))


REMEMBERED = 16384
"""Estimates remembered (a bulk text is re-parsed on every pause in typing: 10,000 "given"
lines would otherwise be estimated again each time, at ~10 ms a line)."""
_remembered: dict[bytes, tuple[int, str]] = {}
_remembered_lock = threading.Lock()
_REMEMBER_KEY = secrets.token_bytes(32)
_zxcvbn_lock = threading.Lock()
"""zxcvbn keeps the context words of the call under way in a module global
(`matching.RANKED_DICTIONARIES["user_inputs"]`): two threads estimating at once would each
match against the other's name and address. One estimate at a time (it is pure Python, so
the GIL ran them one at a time anyway; the lock costs no throughput)."""


def _digest(candidate: str, context: tuple[str, ...]) -> bytes:
    """What an estimate is remembered under: a keyed BLAKE2b of the password and its context,
    so the process never keeps a password it has checked."""
    data = "\0".join((candidate, *context)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, key=_REMEMBER_KEY, digest_size=16).digest()


def estimate(candidate: str, context: tuple[str, ...]) -> tuple[int, str]:
    """(zxcvbn score, why it is weak) for the first MAX_ESTIMATED code points of `candidate`.

    CPU work of up to ~60 ms: callers on an event loop run it in a thread (`problem_off_loop`).
    The last REMEMBERED answers are kept (by digest), so live checks and re-parses pay once.
    """
    digest = _digest(candidate[:MAX_ESTIMATED], context)
    with _remembered_lock:
        known = _remembered.get(digest)
    if known is None:
        known = _estimate(candidate[:MAX_ESTIMATED], context)
        with _remembered_lock:
            if len(_remembered) >= REMEMBERED:
                del _remembered[next(iter(_remembered))]
            _remembered[digest] = known
    return known


def _estimate(candidate: str, context: tuple[str, ...]) -> tuple[int, str]:
    with _zxcvbn_lock:
        result = zxcvbn(candidate, user_inputs=list(context))
    score = int(result["score"])
    if score >= MIN_SCORE:
        return score, ""
    if any(m.get("dictionary_name") == "user_inputs" for m in result["sequence"]):
        return score, (
            "This password is easy to guess: it is built on your name, your email address or "
            "the organisation's name. Add a few words that have nothing to do with you."
        )
    feedback = result["feedback"]
    hints = [str(feedback.get("warning") or ""), *map(str, feedback.get("suggestions") or [])]
    why = " ".join(hint.strip() for hint in hints if hint.strip())
    return score, f"This password is easy to guess. {why or 'Add another word or two.'}"


def password_problem(
    password: str,
    *,
    email: str = "",
    names: Iterable[str] = (),
    org: str = "",
    estimate_strength: bool = True,
) -> str | None:
    """Why `password` is refused, or None when it is acceptable. `org` is the organisation's
    name (USHER_ORG): a password built on it is among the first an attacker tries.

    Up to ~60 ms of CPU (zxcvbn): on an event loop, use `problem_off_loop`. With
    `estimate_strength=False` only the cheap checks run (length, the common list, the
    person's own name): a console answers those on each key and the estimate in a thread."""
    names = tuple(names)
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
    if not estimate_strength:
        return None
    score, why = estimate(candidate, context_words(email, *names, org))
    return why if score < MIN_SCORE else None


async def problem_off_loop(
    password: str, *, email: str = "", names: Iterable[str] = (), org: str = ""
) -> str | None:
    """`password_problem` in a worker thread, for code on an event loop (the estimate is CPU
    work; a stranger's form must not stall the server)."""
    return await asyncio.to_thread(
        password_problem, password, email=email, names=tuple(names), org=org
    )


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


def check_password(
    password: str, *, email: str = "", names: Iterable[str] = (), org: str = ""
) -> str:
    """The normalised password, or PasswordRejected with the reason."""
    problem = password_problem(password, email=email, names=names, org=org)
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
