"""The foundation's own routes: the health check and the landing page."""

from __future__ import annotations

from litestar import Response, get
from litestar.response import Template

from store.service.version import usher_version

from .deps import StoreDep
from .render import page

__all__ = ["healthz", "index", "usher_version"]


@get("/healthz")
async def healthz(store: StoreDep) -> Response[dict[str, str]]:
    """For load balancers and `usher serve` checks: 503 when the database cannot answer."""
    healthy = await store.healthy()
    return Response(
        content={
            "status": "ok" if healthy else "unavailable",
            "version": usher_version(),
            "db": "ok" if healthy else "unavailable",
        },
        status_code=200 if healthy else 503,
    )


@get("/")
async def index() -> Template:
    """Nobody starts here; say what the service is and where to go instead."""
    return page("index.html")
