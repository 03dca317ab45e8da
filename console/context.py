"""What screens, dialogs and widgets may read from the running console: attributes down,
messages up. They name this protocol, never the app class, so the app can import its screens
without the screens importing the app back (the `app → navigation → screens → app` cycle)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from textual.app import App

from store import Settings, Store
from store.domain.records import Counts
from store.service.supervise import Supervisor

from .key_order import KeyOrder
from .logs import LogBuffer, LogLine
from .server_state import ServerState
from .writes import Writes


class Place(Protocol):
    """One F-key destination as the header shows it."""

    @property
    def key(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def label(self) -> str: ...


@runtime_checkable
class Console(Protocol):
    """The console's state every screen shares (the app is the one implementation)."""

    settings: Settings
    store: Store | None
    keys: KeyOrder
    supervisor: Supervisor
    writes: Writes
    log_buffer: LogBuffer
    log_listeners: set[Callable[[LogLine], None]]
    counts: Counts | None
    server_state: ServerState
    database_reachable: bool

    @property
    def current_mode(self) -> str: ...
    @property
    def destinations(self) -> Sequence[Place]: ...


def console_of(app: App[Any]) -> Console:
    """`app` as the console (a screen shown by any other app is a programming error)."""
    if not isinstance(app, Console):
        raise TypeError(f"{type(app).__name__} is not the Usher console")
    return app
