"""The console boots for real under `App.run_test()`: embedded server on the same loop, live
figures from this and other processes, F-key navigation, and a busy port shown as down."""

from __future__ import annotations

import asyncio
import socket
import sqlite3

import httpx
from rich.text import Text
from textual.widgets import DataTable, Static

from console.app import UsherApp
from console.widgets.header import UsherHeader
from signup_server.runner import bind_socket, bound_port
from store import Settings, Store
from store.accounts.audit import record
from store.domain.clock import db_now

from .helpers import eventually


def header_text(app: UsherApp) -> str:
    header = app.screen.query_one(UsherHeader)
    parts = []
    for static in header.query(Static):
        rendered = static.render()
        parts.append(rendered.plain if isinstance(rendered, Text) else str(rendered))
    return "\n".join(parts)


def make_app(settings: Settings) -> UsherApp:
    sock = bind_socket(settings.host, 0)
    return UsherApp(settings.with_port(bound_port(sock)), sock=sock)


async def test_console_serves_healthz_while_the_tui_runs(settings: Settings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:

        async def server_up() -> bool:
            await pilot.pause()
            return app.server_state.state == "up"

        await eventually(server_up)
        url = app.settings.base_url
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{url}/healthz")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert response.json()["db"] == "ok"
        assert f"serving {url}" in header_text(app)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    # After quitting, the port is released: nothing answers any more.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", app.settings.port)) != 0


async def test_busy_port_opens_console_with_server_down(settings: Settings) -> None:
    blocker = bind_socket("127.0.0.1", 0)
    port = bound_port(blocker)
    try:
        from signup_server.runner import BindError

        try:
            bind_socket("127.0.0.1", port)
        except BindError as error:
            reason = str(error)
        else:  # pragma: no cover - the OS let us bind twice
            raise AssertionError("port should be busy")
        app = UsherApp(settings.with_port(port), sock=None, server_down_reason=reason)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert app.server_state.state == "down"
            assert "already in use" in header_text(app)
    finally:
        blocker.close()


async def test_dashboard_updates_when_another_process_commits(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:

        async def counted(n: int) -> bool:
            await pilot.pause()
            return app.counts is not None and app.counts.pending == n

        await eventually(lambda: counted(0))
        with sqlite3.connect(settings.db) as conn:  # another process's connection
            conn.execute(
                "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
                "VALUES ('far@example.org', 'far@example.org', 'member', 'pending', ?, ?)",
                (db_now(), db_now()),
            )
        await eventually(lambda: counted(1), timeout=3)
        pending = app.screen.query_one("#fig-pending", Static).render()
        assert "1" in str(pending)


async def test_own_commits_reach_the_dashboard(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.store is not None
        async with app.store.write("users") as tx:
            await tx.execute(
                "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
                "VALUES ('near@example.org', 'near@example.org', 'member', 'active', ?, ?)",
                (db_now(), db_now()),
            )

        async def counted() -> bool:
            await pilot.pause()
            return app.counts is not None and app.counts.active == 1

        await eventually(counted, timeout=1)


async def test_f_keys_switch_screens_and_help_opens(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.current_mode == "home"
        await pilot.press("f10")
        assert app.current_mode == "audit"
        await pilot.press("slash")  # focus the filter: F-keys must still work while typing
        await pilot.press("x")
        await pilot.press("f1")
        assert app.current_mode == "home"
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "DashboardScreen"


async def test_user_text_is_shown_literally_never_as_markup(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store, store.write() as tx:
        await record(tx, "[bold red]mallory[/]", "signed_up", "[link=https://evil]x[/link]")
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f10")

        async def shown() -> bool:
            await pilot.pause()
            return app.screen.query_one(DataTable).row_count == 1

        await eventually(shown)
        table = app.screen.query_one(DataTable)
        row = table.get_row_at(0)
        plain = [cell.plain if isinstance(cell, Text) else str(cell) for cell in row]
        assert "[bold red]mallory[/]" in plain
        assert "[link=https://evil]x[/link]" in plain


async def test_sigterm_style_quit_stops_server_gracefully(settings: Settings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:

        async def up() -> bool:
            await pilot.pause()
            return app.server_state.state == "up"

        await eventually(up)
        await app.action_quit()
        await asyncio.sleep(0)
    assert app.return_code == 0
