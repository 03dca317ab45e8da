"""`/readyz` (the database takes writes, the workers run) and Prometheus `/metrics` (off by
default; loopback or a bearer token), against a real Store and the real app; `usher serve`'s
readiness through a real process. Scrapes are parsed with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from signup_server import create_app
from signup_server.health import set_worker_probe
from signup_server.serve import worker_alive
from store import Settings, Store, load_settings
from store.onboarding.signup import sign_up_by_link
from store.service.metrics import metrics_access

from .fixtures_security import from_peer
from .helpers import cheap_hasher, form, make_link, start_serve

Client = AsyncTestClient[Litestar]


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, *, peer: str | None = "127.0.0.1", **flags: Any
) -> AsyncIterator[tuple[Store, Litestar, Client]]:
    settings = msgspec.structs.replace(settings, **flags)
    async with await Store.open(settings, hasher=cheap_hasher()) as store:
        app = create_app(store, settings, secret_key=await store.secret_key())
        if peer is not None:
            from_peer(app, peer)
        async with AsyncTestClient(app) as client:
            yield store, app, client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) → value, from a Prometheus text exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


# --- /readyz -------------------------------------------------------------------------------------


async def test_readyz_is_200_when_the_database_takes_writes(settings: Settings) -> None:
    async with serving(settings) as (store, _, client):
        before = await store.engine.data_version()
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["status"] == "ready"
        assert response.json()["db"] == "writable"
        # The probe commits nothing: other processes' change feeds are not woken by it.
        assert await store.engine.data_version() == before


async def test_readyz_is_503_while_the_database_cannot_take_writes(settings: Settings) -> None:
    async with serving(settings) as (store, _, client):
        await store.engine._writer.execute("PRAGMA busy_timeout = 50")
        holder = sqlite3.connect(settings.db)
        try:
            holder.execute("BEGIN IMMEDIATE")
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["status"] == "unavailable"
            assert "locked" in response.json()["db"] or "busy" in response.json()["db"]
            assert (await client.get("/healthz")).status_code == 200  # alive, not ready
        finally:
            holder.rollback()
            holder.close()
        assert (await client.get("/readyz")).status_code == 200


async def test_readyz_is_503_when_a_worker_died(settings: Settings) -> None:
    async def crashes() -> None:
        raise RuntimeError("boom")

    async def runs() -> None:
        await asyncio.Event().wait()

    async def idle() -> None:
        return None  # a worker with nothing to do returns at once: not a failure

    async with serving(settings) as (_, app, client):
        tasks = {
            name: asyncio.create_task(work(), name=name)
            for name, work in (("delivery", runs), ("webhooks", idle), ("housekeeping", crashes))
        }
        await asyncio.wait([tasks["webhooks"], tasks["housekeeping"]])
        set_worker_probe(app, lambda: {n: worker_alive(t) for n, t in tasks.items()})
        try:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["workers"] == {
                "delivery": "alive",
                "webhooks": "alive",
                "housekeeping": "stopped",
            }
            set_worker_probe(app, lambda: {"delivery": worker_alive(tasks["delivery"])})
            assert (await client.get("/readyz")).status_code == 200
        finally:
            tasks["delivery"].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tasks["delivery"]


def test_usher_serve_reports_its_workers_in_readyz(tmp_path: Path) -> None:
    proc, url = start_serve(tmp_path / "usher.db")
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as response:  # noqa: S310
            assert response.status == 200
            body = json.loads(response.read())
        assert body["status"] == "ready"
        assert body["workers"]["Mail delivery"] == "alive"
        assert body["workers"]["Housekeeping"] == "alive"
        assert set(body["workers"]) >= {"Webhook delivery", "Pending sign-ups digest"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


# --- /metrics ------------------------------------------------------------------------------------


async def test_metrics_are_off_by_default(settings: Settings) -> None:
    async with serving(settings) as (_, _, client):
        assert (await client.get("/metrics")).status_code == 404
    assert load_settings({}, environ={}).metrics is False
    assert load_settings({}, environ={"USHER_METRICS": "1"}).metrics is True


async def test_metrics_report_signups_outbox_and_refusals(settings: Settings) -> None:
    async with serving(settings, metrics=True, rate_limit=2) as (store, _, client):
        link = await make_link(store, auto_accept=False, confirm_email=False)
        for address in ("ann@example.org", "bob@example.org"):
            await sign_up_by_link(store, link.token, form(address), actor="tester")
        confirmed = await make_link(store)
        await sign_up_by_link(store, confirmed.token, form("cy@example.org"), actor="tester")
        async with store.write("outbox") as tx:
            await tx.execute(
                "UPDATE outbox SET status = 'failed', last_error = '550 refused' "
                "WHERE id = (SELECT min(id) FROM outbox)"
            )
        for _ in range(3):  # the third is over the limit of 2
            await client.post("/login", data={"email": "x@example.org", "password": "x"})

        response = await client.get("/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        found = samples(response.text)
        outbox = await store.engine.fetchall(
            "SELECT status, count(*) AS n FROM outbox GROUP BY status"
        )

    assert found[("usher_signups", (("outcome", "pending"),))] == 2
    assert found[("usher_signups", (("outcome", "unconfirmed"),))] == 1
    assert found[("usher_pending_approvals", ())] == 2
    for row in outbox:
        key = ("usher_outbox_messages", (("channel", "email"), ("status", row["status"])))
        assert found[key] == row["n"]
    assert sum(row["n"] for row in outbox) >= 3
    assert found[("usher_delivery_failures", (("channel", "email"),))] == 1
    assert found[("usher_hash_queue", ())] == 0
    assert found[("usher_rate_limit_refusals_total", ())] == 1


@pytest.mark.parametrize(
    ("peer", "headers", "token", "status"),
    [
        ("127.0.0.1", {}, "", 200),
        ("::1", {}, "", 200),
        ("203.0.113.5", {}, "", 403),
        # Through a proxy on this host every request comes from loopback: not enough.
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.5"}, "", 403),
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.5"}, "s3cret-token", 401),
        ("203.0.113.5", {}, "s3cret-token", 401),
        ("203.0.113.5", {"Authorization": "Bearer wrong"}, "s3cret-token", 401),
        ("203.0.113.5", {"Authorization": "Bearer s3cret-token"}, "s3cret-token", 200),
        ("203.0.113.5", {"Authorization": "Bearer s3cret-token"}, "", 403),
    ],
)
async def test_metrics_only_from_loopback_or_with_the_token(
    settings: Settings, peer: str, headers: dict[str, str], token: str, status: int
) -> None:
    async with serving(settings, peer=peer, metrics=True, metrics_token=token) as (_, _, client):
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    if status != 200:
        assert "usher_" not in response.text


def test_a_token_that_is_not_ascii_is_refused_not_an_error(settings: Settings) -> None:
    configured = msgspec.structs.replace(settings, metrics=True, metrics_token="s3cret-token")
    access = metrics_access(
        configured, peer="203.0.113.5", forwarded=False, authorization="Bearer s3cr\xe9t-token"
    )
    assert access == "needs_token"
