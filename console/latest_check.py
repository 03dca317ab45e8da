"""A check too dear for the event loop (a password's strength estimate: up to ~60 ms of CPU) run
in a thread on what is being typed, for the newest input only: it starts after a pause in
typing (`Debounce`), an answer for an input that has changed since is dropped, and until the
newest input's answer is back the screen shows that it is checking."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from textual.dom import DOMNode

from .debounce import Debounce

K = TypeVar("K")
V = TypeVar("V")

DELAY = 0.15
"""Seconds of quiet typing before the check starts (each key would start one otherwise)."""


class LatestCheck(Generic[K, V]):
    """`check(key)` in a worker thread for the latest `want(key)`; `shown()` once it answers.

    `check` runs off the event loop: it must read only its `key`, never a widget.
    """

    def __init__(
        self,
        node: DOMNode,
        check: Callable[[K], V],
        shown: Callable[[], object],
        *,
        group: str,
        delay: float = DELAY,
    ) -> None:
        self._node = node
        self._check = check
        self._shown = shown
        self._group = group
        self._debounce = Debounce(node, delay, self._start)
        self._wanted: K | None = None
        self._known: tuple[K, V] | None = None
        self.started = 0
        """Checks started (tests count the work instead of timing it)."""
        self.returned = 0
        """Checks that came back, whether their answer was shown or dropped as stale."""

    def want(self, key: K | None) -> None:
        """The input to check now (None: nothing to check, e.g. the cheap checks refused it).
        Starts after a pause in typing, unless its answer is already known (the same input
        again changes nothing: its check is waiting, running or done)."""
        if key == self._wanted:
            return
        self._wanted = key
        if key is None or (self._known is not None and self._known[0] == key):
            self._debounce.cancel()
        else:
            self._debounce.poke()

    def answer(self, key: K) -> tuple[V] | None:
        """`(value,)` when `key`'s answer is back, None while it is being checked."""
        known = self._known
        return (known[1],) if known is not None and known[0] == key else None

    def _start(self) -> None:
        key = self._wanted
        if key is None:
            return
        self.started += 1
        self._node.run_worker(self._run(key), group=self._group)

    async def _run(self, key: K) -> None:
        try:
            value = await asyncio.to_thread(self._check, key)
        finally:
            self.returned += 1
        if key == self._wanted:  # typed ahead meanwhile: only the newest answer is kept
            self._known = (key, value)
            self._shown()
