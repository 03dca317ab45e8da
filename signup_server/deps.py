"""How route handlers reach the process's `Store` and `Settings`.

`create_app` puts both in `app.state`; handlers declare `store: StoreDep` or
`settings: SettingsDep` parameters and Litestar injects them through `provide_store`/
`provide_settings`. (Litestar >= 2.23 wants injected parameters marked with `NamedDependency`;
unmarked ones still work but warn, and stop working in 3.0.) Code that gets no injection (hooks,
exception handlers) uses `store_from`/`settings_from` on the app.
"""

from __future__ import annotations

from typing import TypeAlias, cast

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency

from store import Settings, Store

__all__ = [
    "STATE_SECRET_KEY",
    "STATE_SETTINGS",
    "STATE_STORE",
    "SettingsDep",
    "StoreDep",
    "provide_settings",
    "provide_store",
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


def provide_store(state: State) -> Store:
    """Dependency `store`: the one Store the console also holds (same event loop)."""
    return cast(Store, state[STATE_STORE])


def provide_settings(state: State) -> Settings:
    """Dependency `settings`: the settings the app was built with (public URL, org, limits)."""
    return cast(Settings, state[STATE_SETTINGS])


def store_from(app: Litestar) -> Store:
    """The app's Store, for code that is not a route handler."""
    return provide_store(app.state)


def settings_from(app: Litestar) -> Settings:
    """The app's Settings, for code that is not a route handler."""
    return provide_settings(app.state)
