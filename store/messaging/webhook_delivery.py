"""The webhook worker: POSTs the outbox's `webhook` rows to USHER_WEBHOOK_URL.

The mail worker's machinery, reused: rows are claimed with a lease (two processes never post
the same row at once), failures go back to `queued` with exponential backoff and jitter, and
after `max_attempts` a row is `failed` (retry it from the Outbox screen). A 2xx answer is
delivery; anything else (another status, a timeout, no connection) is tried again later, so
delivery is at-least-once: the body and its event id are the same on every attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

import httpx

from store.domain.clock import db_now
from store.messaging.delivery import (
    DEFAULTS,
    DeliveryPolicy,
    DeliveryWorker,
    Outcome,
    describe_error,
    new_worker_id,
    policy_with,
)
from store.messaging.outbox import OutboxMessage
from store.messaging.webhooks import headers, shown_url

if TYPE_CHECKING:
    from store.database.core import Store

log = logging.getLogger("usher.webhooks")

TIMEOUT_SECONDS = 10.0
"""Per attempt: a receiver that has not answered by then is tried again later."""


class _HideCredentials(logging.Filter):
    """httpx logs each request's full URL: the URL's password and query (which may hold a
    token) are replaced by `***` in its lines."""

    def __init__(self, url: str) -> None:
        super().__init__()
        parts = urlsplit(url)
        self.secrets = [part for part in (parts.password, parts.username, parts.query) if part]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        hidden = text
        for secret in self.secrets:
            hidden = hidden.replace(secret, "***")
        if hidden != text:
            record.msg, record.args = hidden, None
        return True


def _without(text: str, url: str) -> str:
    """An error message with the URL (which may hold credentials) shown without them."""
    return text.replace(url, shown_url(url)) if url else text


class WebhookWorker(DeliveryWorker):
    channel: ClassVar[str] = "webhook"
    noun: ClassVar[str] = "webhook"

    def __init__(self, store: Store, policy: DeliveryPolicy, owner: str, *, timeout: float) -> None:
        super().__init__(store, None, policy, owner)
        self.mail_dir = None
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._hide = _HideCredentials(self.settings.webhook_url)

    async def run(self, stop_event: asyncio.Event) -> None:
        httpx_log = logging.getLogger("httpx")
        httpx_log.addFilter(self._hide)
        try:
            await super().run(stop_event)
        finally:
            httpx_log.removeFilter(self._hide)

    def _sends(self) -> bool:
        return True

    def describe(self) -> str:
        return shown_url(self.settings.webhook_url)

    async def _work(self) -> None:
        await self.deliver_due()

    async def _deliver_batch(self, messages: list[OutboxMessage]) -> int:
        handled = 0
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        for message in messages:
            if self._stop.is_set():
                break
            if time.monotonic() >= self._lease_renew_at:
                await self._renew_leases()
            if message.id not in self._held:
                continue
            await self._record(message, await self._post(self._client, message))
            handled += 1
        await self._release_held()
        return handled

    async def _post(self, client: httpx.AsyncClient, message: OutboxMessage) -> Outcome:
        try:
            raw = message.payload.encode()
            sent_headers = headers(
                self.settings,
                raw,
                event_id=message.message_id,
                event=message.kind,
                timestamp=int(time.time()),
            )
            response = await client.post(message.recipient, content=raw, headers=sent_headers)
        except httpx.HTTPError as error:
            problem = _without(f"{type(error).__name__}: {error}", message.recipient)
            return Outcome("retry", problem[:500] or "no answer")
        except Exception as error:  # this event's problem only: the others go on
            log.warning("webhook #%d could not be posted", message.id, exc_info=True)
            problem = _without(describe_error(error), message.recipient)
            return Outcome("failed", f"cannot post the event: {problem}")
        if 200 <= response.status_code < 300:
            return Outcome("sent")
        return Outcome("retry", f"HTTP {response.status_code} {response.reason_phrase}".strip())

    async def _record(self, message: OutboxMessage, outcome: Outcome) -> None:
        if outcome.kind != "sent":
            await self._record_many([message], outcome)
            return
        async with self.store.write("outbox") as tx:
            # By id AND lease: a row that is not ours any more is never marked.
            changed = await tx.execute(
                """UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?,
                                     last_error = '', lease_owner = NULL, lease_until = NULL
                   WHERE id = ? AND lease_owner = ? AND status = 'sending'""",
                (db_now(), message.id, self.owner),
            )
        self._held.discard(message.id)
        if changed:
            log.info("webhook #%d (%s) delivered", message.id, message.kind)
        else:
            log.info(
                "webhook #%d (%s) delivered, but it was removed meanwhile", message.id, message.kind
            )

    def _drop_connection(self) -> None:
        """Nothing to drop at once: `_close_connection` closes the client when the run ends."""

    async def _close_connection(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


async def run_webhook_delivery(
    store: Store,
    *,
    stop_event: asyncio.Event | None = None,
    policy: DeliveryPolicy = DEFAULTS,
    timeout: float = TIMEOUT_SECONDS,
    worker_id: str | None = None,
    **changes: float,
) -> None:
    """Deliver queued webhooks until `stop_event` is set (or the task is cancelled); returns at
    once when USHER_WEBHOOK_URL is unset. `policy` and `changes` as for mail (run_delivery)."""
    if not store.settings.webhooks_configured:
        return
    worker = WebhookWorker(
        store,
        policy_with(policy, changes),
        worker_id or new_worker_id(),
        timeout=timeout,
    )
    await worker.run(stop_event or asyncio.Event())
