"""The app factory: one place that wires the security layer, templates and static files, so every
later page inherits them by being registered here."""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Litestar
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from store import Settings, Store

from .accounts import ACCOUNT_ROUTES
from .deps import STATE_SECRET_KEY, STATE_SETTINGS, STATE_STORE
from .errors import exception_handlers, log_exception
from .health import HEALTH_ROUTES, count_refusals, metrics_route
from .invite import INVITE_ROUTES
from .join import JOIN_ROUTES
from .language_switch import remember_language_hook
from .recovery import RECOVERY_ROUTES
from .render import STATIC_DIR, template_config
from .routes import healthz, index
from .security import csrf_config, post_limit, security_headers_hook

__all__ = ["MAX_BODY_SIZE", "create_app"]

MAX_BODY_SIZE = 64 * 1024
"""Our forms are a few fields; anything larger is refused with 413 before it is parsed."""


def _dependencies(store: Store, settings: Settings) -> dict[str, Provide]:
    """`store` and `settings` for handlers (see deps.py): the very objects `app.state` holds.

    Providers without parameters: Litestar validates a provider's parameters on every request
    (`provide_store(state)` cost a `msgspec.convert` of the state each time, ~8 us of a page)."""

    def provide_store() -> Store:
        return store

    def provide_settings() -> Settings:
        return settings

    return {
        "store": Provide(provide_store, sync_to_thread=False),
        "settings": Provide(provide_settings, sync_to_thread=False),
    }


def create_app(
    store: Store,
    settings: Settings,
    *,
    secret_key: str,
    debug: bool = False,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """Build the signup server around an open `store` (the caller owns its lifetime).

    `secret_key` comes from `await store.secret_key()`, so tokens stay valid across restarts
    and across processes sharing the database. `extra_route_handlers` are registered next to
    the foundation's routes and get the same security layer.
    """
    static_router = create_static_files_router(
        path="/static",
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(no_cache=True),
        include_in_schema=False,
    )
    return Litestar(
        route_handlers=[
            healthz,
            *HEALTH_ROUTES,
            *([metrics_route] if settings.metrics else []),
            index,
            static_router,
            *JOIN_ROUTES,
            *RECOVERY_ROUTES,
            *ACCOUNT_ROUTES,
            *INVITE_ROUTES,
            *extra_route_handlers,
        ],
        dependencies=_dependencies(store, settings),
        state=State({STATE_STORE: store, STATE_SETTINGS: settings, STATE_SECRET_KEY: secret_key}),
        csrf_config=csrf_config(settings, secret_key),
        middleware=[post_limit(store, settings)],
        before_send=[
            security_headers_hook(settings),
            remember_language_hook(settings),
            count_refusals,
        ],
        after_exception=[log_exception],
        exception_handlers=exception_handlers,
        template_config=template_config(settings, debug=debug),
        request_max_body_size=MAX_BODY_SIZE,
        logging_config=None,
        openapi_config=None,
        debug=debug,
    )
