"""`usher serve`: the signup server alone (no console), until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TextIO

from store import Settings, Store, StoreError
from store.service import served_url
from store.service.background_jobs import BACKGROUND_TASKS, start_background
from store.service.supervise import Supervisor

from .app import create_app
from .health import set_worker_probe
from .log_format import formatter_for
from .runner import BindError, bind_socket, bound_port, make_server
from .systemd import notify, notify_ready

log = logging.getLogger("usher.serve")


def configure_logging(stream: TextIO = sys.stderr, *, log_format: str = "text") -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_for(log_format))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)


def worker_alive(task: asyncio.Task[None]) -> bool:
    """Running, or finished without an error (a worker with nothing to do, e.g. webhooks
    without USHER_WEBHOOK_URL, returns at once)."""
    if not task.done():
        return True
    return not task.cancelled() and task.exception() is None


def serving_line(settings: Settings, db_path: str) -> str:
    """What `usher serve` prints once it listens: the public URL and, behind a proxy (when the
    public URL is not the listening address), where the proxy must send requests."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    listening = f"http://{host}:{settings.port}"
    where = "" if listening == settings.base_url else f"listening on {listening}, "
    return f"Usher serving {settings.base_url} ({where}database {db_path})"


class ServeFailed(Exception):
    """Nothing could be served; the message is the one line `usher serve` prints."""


Companion = Callable[[Store, Settings, TextIO], AbstractAsyncContextManager[None]]
"""Served beside the signup pages for the server's lifetime, handed in by the CLI (the SSH
console lives in `console/`, which this package never imports)."""


async def serve(
    settings: Settings, *, out: TextIO = sys.stdout, companions: Sequence[Companion] = ()
) -> None:
    """Serve until SIGINT/SIGTERM, then finish in-flight requests and return.

    Raises ServeFailed (before serving anything) for a busy port or an unusable database.
    """
    try:
        sock = bind_socket(settings.host, settings.port)
    except BindError as error:
        raise ServeFailed(str(error)) from None
    if settings.port == 0:
        settings = settings.with_port(bound_port(sock))
    try:
        store = await Store.open(settings)
    except StoreError as error:
        sock.close()
        raise ServeFailed(str(error)) from None
    beside = contextlib.AsyncExitStack()
    try:
        for companion in companions:
            await beside.enter_async_context(companion(store, settings, out))
        app = create_app(store, settings, secret_key=await store.secret_key())
        server = make_server(app)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            notify("STOPPING=1")
            server.stop()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)
        background = start_background(store, Supervisor(), BACKGROUND_TASKS)
        set_worker_probe(app, lambda: {task.get_name(): worker_alive(task) for task in background})
        print(serving_line(settings, store.location), file=out, flush=True)
        ready = asyncio.create_task(notify_ready(lambda: server.started, settings.base_url))
        try:
            async with served_url.serving(store, settings.base_url):
                await server.serve(sockets=[sock])
        finally:
            for task in [*background, ready]:
                task.cancel()
            for task in [*background, ready]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
    finally:
        await beside.aclose()
        sock.close()
        await store.close()
    log.info("stopped")
