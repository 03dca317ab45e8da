"""The console: Textual app shell that owns the event loop, the store, and the embedded signup
server (uvicorn as a worker on the same loop)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any, ClassVar

from litestar.types import ControllerRouterHandler
from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerFailed, WorkerState

from signup_server import create_app
from signup_server.runner import EmbeddedServer, make_server
from store import Settings, Store
from store.accounts.acting import NotAllowed, allows_admins
from store.database.dialect import is_postgres_url
from store.domain.records import AuditEntry, Counts
from store.messaging.delivery import run_delivery
from store.service import served_url
from store.service.background_jobs import PERIODIC_TASKS
from store.service.supervise import Supervisor, TaskCrash

from .key_order import KeyOrder
from .logs import LogBuffer, LogLine, capture_logs
from .navigation import Destination, destinations
from .server_state import ServerState
from .writes import Writes

ACTIVITY_ROWS = 12
SERVER_CHECK_SECONDS = 2.0
DATABASE_CHECK_SECONDS = 2.0
"""How often a `--no-server` console looks again for the process serving its database (a
server killed outright commits nothing the change feed could announce)."""
MAIL_STOP_TIMEOUT = 5.0
"""Seconds quitting waits for the mail worker to finish the message it is sending."""
WRITE_STOP_TIMEOUT = 30.0
"""Seconds a decision, a creation or an export already under way gets to finish on quit."""
ORPHAN_CHECK_SECONDS = 2.0
"""How often a console looks whether its terminal (and an SSH session's server) is still there."""


def _terminal_fd() -> int | None:
    """The terminal Textual draws on (its driver writes to stderr), if it is one: a hung-up
    terminal stops being a tty (every ioctl on it fails), which is how its loss is seen."""
    stream = sys.__stderr__
    if stream is None:
        return None
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return None
    return fd if os.isatty(fd) else None


class UsherApp(App[int]):
    """`sock` is the listening socket for the embedded server (bound before the app starts),
    or None with `server_down_reason` saying why there is none."""

    CSS_PATH = "app.tcss"
    TITLE = "Usher"
    ENABLE_COMMAND_PALETTE = True
    DESTINATIONS: ClassVar[list[Destination]] = destinations()
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        d.mode: d.factory for d in DESTINATIONS
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("q", "quit", "Quit"),
        *(
            Binding(d.key, f"switch_mode('{d.mode}')", d.label, show=False, priority=True)
            for d in DESTINATIONS
        ),
    ]

    counts: reactive[Counts | None] = reactive(None, always_update=True)
    task_crashes: reactive[list[TaskCrash]] = reactive(list, always_update=True)
    """The last crash of each background task that crashed (shown on Home)."""
    activity: reactive[list[AuditEntry]] = reactive(list, always_update=True)
    server_state: reactive[ServerState] = reactive(ServerState("off"))
    database_reachable: reactive[bool] = reactive(True)
    """False while a PostgreSQL database cannot be reached (the header says so)."""

    def __init__(
        self,
        settings: Settings,
        *,
        sock: socket.socket | None = None,
        server_down_reason: str = "",
        no_server: bool = False,
        background: bool = True,
        leave_with_parent: bool = False,
        extra_route_handlers: Sequence[ControllerRouterHandler] = (),
    ) -> None:
        self.settings = settings
        """What this console builds URLs with: with `--no-server`, the running server's public
        URL replaces the configured one (store.service.served_url)."""
        self._configured = settings
        self.destinations = self.DESTINATIONS
        super().__init__()
        self.store: Store | None = None
        self.log_buffer = LogBuffer()
        self.log_listeners: set[Callable[[LogLine], None]] = set()
        self._sock = sock
        self._server_down_reason = server_down_reason
        self._no_server = no_server
        self._background = background
        """Run mail delivery and housekeeping here (an SSH session leaves them to its server)."""
        self._started_by = os.getppid() if leave_with_parent else None
        """An SSH session's console exits when the server that started it is gone: a killed
        server cannot hang up, and its console would spin on a terminal nobody reads."""
        self._terminal: int | None = None
        """The terminal's file descriptor, watched for a hang-up (None: headless, or no tty)."""
        self._extra_route_handlers = tuple(extra_route_handlers)
        """Routes added to the embedded server (tests use it for routes of their own)."""
        self._server: EmbeddedServer | None = None
        self._server_worker: Worker[None] | None = None
        self._restore_logging: Callable[[], None] | None = None
        self._quitting = False
        self._mail_stop = asyncio.Event()
        self.supervisor = Supervisor(on_crash=self._task_crashed)
        """Runs every background task: a crash is logged and shown on Home, the task restarts."""
        self.writes = Writes()
        """Workers storing what the admin asked for: quitting waits for them."""
        self.keys = KeyOrder(self, super().on_event)
        """Keys from the terminal, one at a time (see `key_order`)."""

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.Paste) and not event.is_forwarded:
            await self.keys.receive(event)
        else:
            await super().on_event(event)

    # ---------------------------------------------------------------- start and stop

    async def on_mount(self) -> None:
        self._restore_logging = capture_logs(self.log_buffer)
        self.log_buffer.listen(self._log_line, self.call_from_thread)
        self.store = await Store.open(self.settings)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._on_sigterm)
        if self._no_server:  # known before the first picture: the header never flickers
            await self._check_server(self.store)
        await self.switch_mode("home")
        store = self.store
        supervised = self.supervisor.run
        self.run_worker(
            supervised("Change watcher", self._follow_changes), group="changes", exit_on_error=False
        )
        if is_postgres_url(self.settings.db):  # a database on another machine can go away
            self.run_worker(
                supervised("Database watch", self._watch_database),
                group="changes",
                exit_on_error=False,
            )
        if self._background:
            self._start_background(store)
        self._terminal = _terminal_fd() if not self.is_headless else None
        if self._started_by is not None or self._terminal is not None:
            self.set_interval(ORPHAN_CHECK_SECONDS, self._exit_if_orphaned)
        self._start_server()

    def _exit_if_orphaned(self) -> None:
        """Nobody can see this console any more: its SSH server is gone, or its terminal was
        hung up (a SIGHUP would have ended it, but under `nohup` or without a controlling
        terminal none comes, and Textual would spin on the dead terminal)."""
        gone_server = self._started_by is not None and os.getppid() != self._started_by
        gone_terminal = self._terminal is not None and not os.isatty(self._terminal)
        if gone_server or gone_terminal:
            self.exit(return_code=1)

    def _start_background(self, store: Store) -> None:
        supervised = self.supervisor.run
        for name, task in PERIODIC_TASKS:
            self.run_worker(
                supervised(name, partial(task, store)),
                group="background",
                name=name,
                exit_on_error=False,
            )
        self.run_worker(
            supervised("Mail delivery", partial(run_delivery, store, stop_event=self._mail_stop)),
            group="mail",
            name="Mail delivery",
            exit_on_error=False,
        )

    def _start_server(self) -> None:
        url = self.settings.base_url
        if self._no_server:
            self.run_worker(
                self.supervisor.run("Server finder", self._follow_server),
                group="changes",
                exit_on_error=False,
            )
            return
        if self._sock is None:
            self.server_state = ServerState("down", url, self._server_down_reason or "not started")
            return
        assert self.store is not None
        self.server_state = ServerState("starting", url)
        self.run_worker(self._serve(self._sock), group="http", exit_on_error=False)

    async def _serve(self, sock: socket.socket) -> None:
        assert self.store is not None
        web = create_app(
            self.store,
            self.settings,
            secret_key=await self.store.secret_key(),
            extra_route_handlers=self._extra_route_handlers,
        )
        self._server = make_server(web)
        watcher = asyncio.create_task(self._watch_started(self._server))
        try:
            async with served_url.serving(self.store, self.settings.base_url):
                await self._server.serve(sockets=[sock])
        except SystemExit:
            raise RuntimeError("the server could not start (see the server log, F12)") from None
        finally:
            watcher.cancel()

    async def _watch_started(self, server: EmbeddedServer) -> None:
        while not server.started:
            await asyncio.sleep(0.02)
        self.server_state = ServerState("up", self.settings.base_url)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place that turns a failed worker into a visible state, never a traceback."""
        worker = event.worker
        if worker.group == "http" and event.state in (WorkerState.ERROR, WorkerState.SUCCESS):
            if self._quitting:
                return
            reason = str(worker.error) if worker.error else "the server stopped"
            self.server_state = ServerState("down", self.settings.base_url, reason)
            if worker.error:
                self.notify(f"Signup server stopped: {reason}", severity="error", timeout=10)
        elif event.state == WorkerState.ERROR and worker.error is not None:
            self.notify(
                f"{worker.name or 'Background task'} failed: {worker.error}",
                severity="error",
                timeout=10,
            )

    def _handle_exception(self, error: Exception) -> None:
        """A refusal by role (store/accounts/acting.py) is a notification, never the end."""
        if isinstance(error, WorkerFailed) and isinstance(error.error, NotAllowed):
            self.notify(str(error.error), title="Not allowed", severity="error", markup=False)
            return
        super()._handle_exception(error)

    def _on_sigterm(self) -> None:
        self.run_worker(self.action_quit(), group="quit")

    async def action_quit(self) -> None:
        """Stop the server gracefully (in-flight requests finish), close the store, exit."""
        if self._quitting:
            return
        self._quitting = True
        await self.writes.finish(WRITE_STOP_TIMEOUT)
        if self._server is not None:
            self._server.stop()
        self._mail_stop.set()
        for worker in list(self.workers):
            if worker.group == "http":
                with contextlib.suppress(Exception):
                    await worker.wait()
        for worker in list(self.workers):
            if worker.group == "mail":
                try:
                    await asyncio.wait_for(worker.wait(), MAIL_STOP_TIMEOUT)
                except Exception:
                    worker.cancel()
        if self._sock is not None:
            self._sock.close()
        if self.store is not None:
            await self.store.close()
            self.store = None
        self.exit(0)

    async def on_unmount(self) -> None:
        """However the app ends (quit, test harness, crash): stop the server, close the
        database (aiosqlite's threads would keep the process alive) and give the loggers back."""
        if self._server is not None:
            self._server.stop()
        if self.store is not None:
            store, self.store = self.store, None
            await store.close()
        self.log_buffer.listen(None)
        if self._restore_logging is not None:
            self._restore_logging()
            self._restore_logging = None

    # ---------------------------------------------------------------- live data

    async def _follow_changes(self) -> None:
        """Refresh the shared figures on every commit (ours at once, others' within a poll)."""
        assert self.store is not None
        store = self.store
        async with store.feed.listening() as changes:
            await self.refresh_counts()
            async for _ in changes:
                await self.refresh_counts()

    async def _watch_database(self) -> None:
        """PostgreSQL only: ask the database every few seconds, so the header says when it
        cannot be reached, and that it is back, without a key press."""
        assert self.store is not None
        store = self.store
        while True:
            self.database_reachable = await store.healthy()
            await asyncio.sleep(DATABASE_CHECK_SECONDS)

    async def _follow_server(self) -> None:
        """Look for the process serving this database at each commit and every few seconds."""
        assert self.store is not None
        store = self.store
        async with store.feed.listening() as changes:
            while True:
                await self._check_server(store)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(anext(changes), SERVER_CHECK_SECONDS)

    async def _check_server(self, store: Store) -> None:
        server = await served_url.current_server(store)
        settings = served_url.settings_for_links(self._configured, server)
        self.settings = store.settings = settings
        before = self.server_state
        if server is not None:
            state = ServerState("elsewhere", server.url)
        else:
            state = ServerState("gone", settings.base_url)
        if state == before:
            return
        self.server_state = state
        if before.state == "elsewhere" and state.state == "gone":
            self.notify(
                f"The signup server at {before.url} stopped: links do not open until it runs.",
                title="Signup server stopped",
                severity="warning",
                timeout=10,
                markup=False,
            )

    async def refresh_counts(self) -> None:
        if self.store is None:
            return
        self.counts = await self.store.counts()
        self.activity = await self.store.recent_activity(ACTIVITY_ROWS)

    def _task_crashed(self, crash: TaskCrash) -> None:
        self.task_crashes = sorted(self.supervisor.crashes.values(), key=lambda c: c.task)
        self.notify(
            f"{crash.task} crashed and starts again: {crash.error}",
            severity="error",
            timeout=10,
            markup=False,
        )

    def _log_line(self, line: LogLine) -> None:
        for listener in list(self.log_listeners):
            listener(line)

    # ---------------------------------------------------------------- commands

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from screen_commands(screen)
        for destination in self.destinations:
            yield SystemCommand(
                f"Go to {destination.label}",
                f"Open the {destination.label} screen ({destination.key.upper()})",
                self._go(destination.mode),
            )
        if allows_admins():
            yield SystemCommand("Admins", "Who may open the console over SSH", self._admins)
        yield from super().get_system_commands(screen)

    def _admins(self) -> None:
        from .screens.admins import AdminsScreen

        self.push_screen(AdminsScreen())

    def _go(self, mode: str) -> Callable[[], object]:
        return lambda: self.switch_mode(mode)


def screen_commands(screen: Screen[object]) -> Iterator[SystemCommand]:
    """Every action the screen itself binds to a key, as palette commands (greyed-out ones
    left out), so the palette offers what the footer has room for and more."""
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if active.node is not screen or not active.enabled or not binding.description:
            continue
        if binding.action in seen:
            continue
        seen.add(binding.action)
        key = binding.key_display or screen.app.get_key_display(binding)
        yield SystemCommand(
            binding.description,
            f"{screen.TITLE or 'This screen'}: {key}",
            partial(screen.run_action, binding.action),
        )
