"""Which background jobs run beside the server, and how they start: a decision of the core,
so the console and `usher serve` run the same list (each under a `Supervisor`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from store.database.core import Store
from store.messaging.delivery import run_delivery
from store.messaging.webhook_delivery import run_webhook_delivery
from store.onboarding.approvals import pending_digest_loop
from store.service.housekeeping import housekeeping_loop
from store.service.supervise import Supervisor

__all__ = ["BACKGROUND_TASKS", "PERIODIC_TASKS", "BackgroundTask", "start_background"]

BackgroundTask = tuple[str, Callable[[Store], Coroutine[Any, Any, None]]]
"""Work that runs beside the server for its lifetime, with the name its crashes are shown by."""

PERIODIC_TASKS: list[BackgroundTask] = [
    ("Housekeeping", housekeeping_loop),
    ("Pending sign-ups digest", pending_digest_loop),
    ("Webhook delivery", run_webhook_delivery),
]
"""Run by both the console and `usher serve` (webhook delivery only with USHER_WEBHOOK_URL),
each under a `store.service.supervise.Supervisor`."""

BACKGROUND_TASKS: list[BackgroundTask] = [("Mail delivery", run_delivery), *PERIODIC_TASKS]
"""What `usher serve` runs beside the server (the console runs delivery as its own worker)."""


def start_background(
    store: Store, supervisor: Supervisor, tasks: list[BackgroundTask]
) -> list[asyncio.Task[None]]:
    """Each task under the supervisor: a crash is logged and the task starts again."""
    return [
        asyncio.create_task(supervisor.run(name, partial(task, store)), name=name)
        for name, task in tasks
    ]
