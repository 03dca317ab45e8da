"""How route handlers reach the process's `Store` and `Settings`.

`create_app` puts both in `app.state` and provides them to handlers (`signup_server/app.py`:
providers without parameters, so nothing is validated per request); handlers declare
`store: StoreDep` or `settings: SettingsDep` parameters. (Litestar >= 2.23 wants injected
parameters marked with `NamedDependency`; unmarked ones still work but warn, and stop working
in 3.0.) Code that gets no injection (hooks, exception handlers) uses `store_from`/
`settings_from` on the app.
"""

from __future__ import annotations

from typing import TypeAlias, cast

from litestar import Litestar
from litestar.di import NamedDependency

from store import Settings, Store

__all__ = [
    "STATE_SECRET_KEY",
    "STATE_SETTINGS",
    "STATE_STORE",
    "SettingsDep",
    "StoreDep",
    "settings_from",
    "store_from",
]

STATE_STORE = "store"
STATE_SETTINGS = "settings"
STATE_SECRET_KEY = "secret_key"  # noqa: S105 - the name of a state entry, not a secret

StoreDep: TypeAlias = NamedDependency[Store]
"""Annotation for a handler parameter named `store`."""
SettingsDep: TypeAlias = NamedDependency[Settings]
"""Annotation for a handler parameter named `settings`."""


def store_from(app: Litestar) -> Store:
    """The app's Store (the one the console also holds), for code that is not a handler."""
    return cast(Store, app.state[STATE_STORE])


def settings_from(app: Litestar) -> Settings:
    """The app's Settings, for code that is not a route handler."""
    return cast(Settings, app.state[STATE_SETTINGS])
