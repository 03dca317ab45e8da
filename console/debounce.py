"""Work that waits for typing to pause: a parse, a preview or a lookup runs once, a moment after
the last key, not after every key (each was a timer kept by hand, three times)."""

from __future__ import annotations

from collections.abc import Callable

from textual.message_pump import MessagePump
from textual.timer import Timer


class Debounce:
    """Calls `action` `delay` seconds after the latest `poke()` (on `node`'s timers)."""

    def __init__(self, node: MessagePump, delay: float, action: Callable[[], object]) -> None:
        self._node = node
        self._delay = delay
        self._action = action
        self._timer: Timer | None = None

    @property
    def waiting(self) -> bool:
        """A poke has not been acted on yet."""
        return self._timer is not None

    def poke(self, delay: float | None = None) -> None:
        """Start the wait again (`delay` 0 acts at once)."""
        self.cancel()
        wait = self._delay if delay is None else delay
        if wait <= 0:
            self._action()
        else:
            self._timer = self._node.set_timer(wait, self._fire)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        self._action()
