"""`/readyz` and `/metrics`: what a service manager, a load balancer and Prometheus ask.

`/healthz` (routes.py) says the process answers; `/readyz` says it can do its work: the
database takes writes and the background workers (mail delivery, webhooks, housekeeping) are
running. Whoever runs the workers tells the app how to see them with `set_worker_probe` - `usher
serve` does; the console runs its own and registers none, and then only the database counts.

`/metrics` exists only with `USHER_METRICS=1`; who may read it is decided by
`store.service.metrics.metrics_access`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from litestar import Litestar, MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.types import Message, Scope
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from store.database.health import database_writable
from store.service.metrics import MetricCounts, metric_counts, metrics_access
from store.service.version import usher_version

from .deps import SettingsDep, StoreDep

__all__ = [
    "HEALTH_ROUTES",
    "count_refusals",
    "metrics_route",
    "set_worker_probe",
]

WorkerProbe = Callable[[], Mapping[str, bool]]
"""Worker name → alive, asked at each `/readyz`."""

STATE_WORKERS = "worker_probe"
STATE_REFUSALS = "rate_limit_refusals"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def set_worker_probe(app: Litestar, probe: WorkerProbe) -> None:
    """Let `/readyz` see the background workers (called by whoever starts them)."""
    app.state[STATE_WORKERS] = probe


@get("/readyz")
async def readyz(store: StoreDep, state: State) -> Response[dict[str, Any]]:
    """200 when the database takes writes and every registered worker runs, else 503."""
    problem = await database_writable(store)
    probe = cast(WorkerProbe | None, state.get(STATE_WORKERS))
    workers = dict(probe()) if probe is not None else {}
    ready = not problem and all(workers.values())
    return Response(
        content={
            "status": "ready" if ready else "unavailable",
            "version": usher_version(),
            "db": problem or "writable",
            "workers": {name: "alive" if alive else "stopped" for name, alive in workers.items()},
        },
        status_code=200 if ready else 503,
    )


# --- metrics -------------------------------------------------------------------------------------


async def count_refusals(message: Message, scope: Scope) -> None:
    """A `before_send` hook counting 429 answers (the rate limit's refusals) in this process."""
    if message["type"] == "http.response.start" and message["status"] == 429:
        state = scope["litestar_app"].state
        state[STATE_REFUSALS] = int(state.get(STATE_REFUSALS, 0)) + 1


class _Snapshot(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def _families(counts: MetricCounts, refusals: int) -> list[Metric]:
    signups = GaugeMetricFamily(
        "usher_signups",
        "People who signed up by link, by outcome so far (their account's status)",
        labels=["outcome"],
    )
    for outcome, n in sorted(counts.signups.items()):
        signups.add_metric([outcome], n)
    pending = GaugeMetricFamily("usher_pending_approvals", "Accounts waiting for approval")
    pending.add_metric([], counts.pending_approvals)
    outbox = GaugeMetricFamily(
        "usher_outbox_messages",
        "Outbox messages by channel and status",
        labels=["channel", "status"],
    )
    for (channel, status), n in sorted(counts.outbox.items()):
        outbox.add_metric([channel, status], n)
    failures = GaugeMetricFamily(
        "usher_delivery_failures",
        "Messages whose last delivery attempt failed (retrying or failed for good)",
        labels=["channel"],
    )
    for channel, n in sorted(counts.delivery_failures.items()):
        failures.add_metric([channel], n)
    queue = GaugeMetricFamily(
        "usher_hash_queue", "Password hashes waiting for an argon2 slot in this process"
    )
    queue.add_metric([], counts.hash_queue)
    refused = CounterMetricFamily(
        "usher_rate_limit_refusals", "Requests refused by the POST rate limit in this process"
    )
    refused.add_metric([], refusals)
    return [signups, pending, outbox, failures, queue, refused]


@get("/metrics", media_type=MediaType.TEXT)
async def metrics(
    request: Request[Any, Any, Any], store: StoreDep, settings: SettingsDep, state: State
) -> Response[bytes]:
    access = metrics_access(
        settings,
        peer=request.client.host if request.client else "",
        forwarded="x-forwarded-for" in request.headers or "forwarded" in request.headers,
        authorization=request.headers.get("authorization", ""),
    )
    if access == "needs_token":
        raise NotAuthorizedException(headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if access == "refused":
        raise PermissionDeniedException()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        _Snapshot(_families(await metric_counts(store), int(state.get(STATE_REFUSALS, 0))))
    )
    return Response(
        content=generate_latest(registry),
        media_type=CONTENT_TYPE,
        headers={"cache-control": "no-store"},
    )


metrics_route = metrics
HEALTH_ROUTES = [readyz]
"""Always registered; `metrics_route` only with `USHER_METRICS=1`."""
