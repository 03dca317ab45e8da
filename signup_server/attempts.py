"""A small in-memory limiter for guesses at a secret (a link's password), per link and client.

The app-wide POST limit slows everyone; this one stops a single client from trying passwords on
one link. Per process, like the POST limit: a restart forgets it, which only helps a guesser
once per restart.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from litestar import Litestar

__all__ = ["LINK_PASSWORD_TRIES", "LINK_PASSWORD_WINDOW", "AttemptLimiter", "link_password_limiter"]

LINK_PASSWORD_TRIES = 5
LINK_PASSWORD_WINDOW = 15 * 60.0
_STATE_KEY = "link_password_attempts"


class AttemptLimiter:
    """At most `tries` failures per key in a sliding `window` of seconds."""

    def __init__(
        self,
        tries: int = LINK_PASSWORD_TRIES,
        window: float = LINK_PASSWORD_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.tries = tries
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        cutoff = self._clock() - self.window
        while stamps and stamps[0] <= cutoff:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return stamps

    def blocked(self, key: str) -> bool:
        return len(self._recent(key)) >= self.tries

    def failed(self, key: str) -> None:
        if key not in self._failures and len(self._failures) >= self._max_keys:
            self._failures.pop(next(iter(self._failures)))  # forget the oldest key, never grow
        self._failures.setdefault(key, deque()).append(self._clock())
        self._recent(key)

    def retry_after(self, key: str) -> int:
        stamps = self._recent(key)
        if not stamps:
            return 0
        return max(1, int(stamps[0] + self.window - self._clock()) + 1)


def link_password_limiter(app: Litestar) -> AttemptLimiter:
    """The app's limiter, made on first use (each app, hence each test, has its own)."""
    state: Any = app.state
    limiter = state.get(_STATE_KEY)
    if limiter is None:
        limiter = AttemptLimiter()
        state[_STATE_KEY] = limiter
    assert isinstance(limiter, AttemptLimiter)
    return limiter
