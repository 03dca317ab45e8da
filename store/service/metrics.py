"""What `/metrics` reports, and who may read it.

The figures are read from the database at each scrape, so every process serving one database
reports the same totals (a console and `usher serve` side by side do not each count half).
Only the hash queue is per process: it is this process's argon2 backlog.
"""

from __future__ import annotations

import hmac
from typing import Literal

import msgspec

from store.database.core import Store
from store.service.proxies import parse_address
from store.service.settings import Settings

__all__ = ["MetricCounts", "metric_counts", "metrics_access"]


class MetricCounts(msgspec.Struct, frozen=True, kw_only=True):
    signups: dict[str, int]
    """People who signed up by link, by the outcome so far (their account's status)."""
    pending_approvals: int
    outbox: dict[tuple[str, str], int]
    """(channel, status) → messages."""
    delivery_failures: dict[str, int]
    """channel → messages whose last attempt failed (retrying, or failed for good)."""
    hash_queue: int
    """Password hashes and checks waiting for a free argon2 slot in this process."""


async def metric_counts(store: Store) -> MetricCounts:
    engine = store.engine
    signups = {
        str(row["status"]): int(row["n"])
        for row in await engine.fetchall(
            "SELECT status, count(*) AS n FROM users WHERE source = 'link' GROUP BY status"
        )
    }
    pending = await engine.scalar("SELECT count(*) FROM users WHERE status = 'pending'")
    outbox: dict[tuple[str, str], int] = {}
    failures: dict[str, int] = {}
    for row in await engine.fetchall(
        "SELECT channel, status, count(*) AS n, sum(last_error != '') AS failing "
        "FROM outbox GROUP BY channel, status"
    ):
        channel = str(row["channel"])
        outbox[(channel, str(row["status"]))] = int(row["n"])
        if row["status"] in ("queued", "failed"):
            failures[channel] = failures.get(channel, 0) + int(row["failing"] or 0)
    return MetricCounts(
        signups=signups,
        pending_approvals=int(pending or 0),
        outbox=outbox,
        delivery_failures=failures,
        hash_queue=store.hasher.waiting,
    )


MetricsAccess = Literal["allowed", "needs_token", "refused"]


def metrics_access(
    settings: Settings, *, peer: str, forwarded: bool, authorization: str
) -> MetricsAccess:
    """Who may scrape: a direct loopback client (not one relayed by a proxy on this host - every
    request through Caddy comes from loopback), or anyone with `USHER_METRICS_TOKEN` as a bearer
    token. `needs_token` when a token would help, `refused` when none is configured."""
    token = settings.metrics_token
    scheme, _, given = authorization.partition(" ")
    if (
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    ):
        return "allowed"
    address = parse_address(peer)
    if address is not None and address.is_loopback and not forwarded:
        return "allowed"
    return "needs_token" if token else "refused"
