"""Keys in the order they were typed, however fast they arrive.

Textual hands each key from the terminal to the focused widget's queue at once and reads the
next: a Tab (handled when the key has bubbled back up to the app) or an Enter (whose Submitted
message travels to the screen) took effect after the keys typed behind it had already gone to
the old field. Over SSH keys arrive in bursts, so "Ann ⇥ Lee" landed all in First name and an
Enter submitted the next person's first letters too. `KeyOrder` hands a key on only once the
one before it, and the messages it caused along the focus chain, have been handled; a screen
can also hold keys while a short submit runs (`hold`), so what is typed meanwhile lands in the
fresh form, not in the one being cleared.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from textual import events
from textual.app import App
from textual.dom import DOMNode
from textual.message_pump import MessagePump

MAX_PASSES = 6
"""Walks up the focus chain after a key: each walk lets one more round of messages through
(a key, then the Changed or Submitted it posted, then what their handlers posted)."""
CLOSE_CHECK = 0.05
"""Seconds between checks that a widget still waited on has not closed meanwhile."""


class KeyOrder:
    """One key (or paste) at a time for `app`; `hand_on` does what Textual would do with it."""

    def __init__(self, app: App[Any], hand_on: Callable[[events.Event], Awaitable[None]]):
        self._app = app
        self._hand_on = hand_on
        self._waiting: deque[events.Event] = deque()
        self._in_flight = False
        self._holds = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._queued = False
        self.settled = asyncio.Event()
        """Set while no key is waiting or being handled (tests wait on it)."""
        self.settled.set()

    async def receive(self, event: events.Event) -> None:
        """A key or paste from the terminal: handle it now, or after the ones before it."""
        if self._in_flight or self._holds or self._waiting:
            self._waiting.append(event)
            self.settled.clear()
            return
        await self._send(event)

    @property
    def in_burst(self) -> bool:
        """While a key is handed on: it came faster than keys are handled (it waited behind
        another, or others wait behind it) — pasted without bracketed paste, or typed ahead."""
        return self._in_flight and (self._queued or bool(self._waiting))

    def hold(self) -> Callable[[], None]:
        """Keys typed from now until the returned function is called wait (a short submit: the
        form is read, written and cleared before the next keys reach it). Calling it again
        does nothing."""
        self._holds += 1
        self.settled.clear()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._holds -= 1
                self._app.call_later(self._next)

        return release

    async def _send(self, event: events.Event, *, queued: bool = False) -> None:
        self._in_flight = True
        self._queued = queued
        self.settled.clear()
        target = self._focus_target()
        try:
            await self._hand_on(event)
        finally:
            task = asyncio.create_task(self._settle(target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _focus_target(self) -> DOMNode:
        try:
            return self._app.focused or self._app.screen
        except Exception:
            return self._app

    async def _settle(self, first: DOMNode) -> None:
        """Wait until `first`'s chain and then the current focus chain are quiet."""
        try:
            chain = _chain(first)
            for _ in range(MAX_PASSES):
                quiet = True
                for node in chain:
                    quiet = await _through(node) and quiet
                if quiet and chain == _chain(self._focus_target()):
                    break
                chain = _chain(self._focus_target())
        finally:
            self._in_flight = False
            if not self._app.call_later(self._next):
                self._waiting.clear()

    async def _next(self) -> None:
        if self._in_flight or self._holds:
            return
        if not self._waiting:
            self.settled.set()
            return
        await self._send(self._waiting.popleft(), queued=True)


def _chain(node: DOMNode) -> list[MessagePump]:
    """`node`, its ancestors, and the app last (where unhandled keys and bindings end up)."""
    return list(node.ancestors_with_self)


async def _through(node: MessagePump) -> bool:
    """Wait until `node` has handled what is already in its queue; True when nothing new
    arrived meanwhile (or the node closed)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def mark() -> None:
        if not done.done():
            done.set_result(node._message_queue.empty())

    if not node.call_later(mark):
        return True
    while not done.done():
        await asyncio.wait({done}, timeout=CLOSE_CHECK)
        if node._closing or node._closed:
            return True
    return done.result()
