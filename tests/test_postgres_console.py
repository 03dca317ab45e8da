"""The console on PostgreSQL (issue 20): its header says when the database cannot be reached,
and recovers by itself when it can again (also after a real restart); a signup on another
server reaches its Approvals screen by itself."""

from __future__ import annotations

import asyncio
import time

import httpx

from console.app import UsherApp
from console.screens.approvals import ApprovalsScreen
from console.widgets.live_table import row_keys
from store import Store, load_settings
from store.database.engine_postgres import PostgresEngine

from .fixtures_postgres import PostgresServer
from .fixtures_security import csrf_from
from .helpers import GOOD_PASSWORD, cheap_hasher, eventually, make_link, start_serve, stop_serves


def header_status(app: UsherApp) -> str:
    return str(app.screen.query_one("#status").render())


async def test_the_header_says_database_unreachable_and_recovers_by_itself(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    settings = load_settings({"db": postgres_url, "port": 0}, environ={})
    database = postgres_url.rsplit("/", 1)[1].split("?")[0]
    app = UsherApp(settings, no_server=True, background=False)
    async with app.run_test(size=(80, 24)):

        async def shown(text: str, present: bool = True) -> bool:
            return (text in header_status(app)) is present

        await eventually(lambda: shown("no server running"), timeout=30)
        assert database in str(app.screen.query_one("#meta").render())
        with postgres_server.admin() as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )
        try:
            await eventually(lambda: shown("database unreachable"), timeout=60)
        finally:
            with postgres_server.admin() as admin:
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await eventually(lambda: shown("database unreachable", present=False), timeout=60)
        assert "no server running" in header_status(app)


async def test_the_header_recovers_by_itself_after_a_real_postgresql_restart(
    own_postgres_url: str, own_postgres_server: PostgresServer
) -> None:
    """The server itself stopped (`pg_ctl stop -m fast`), then started again on its data: the
    header says so while it is down and goes back by itself, the pool and the change feed's
    listener reconnecting."""
    settings = load_settings({"db": own_postgres_url, "port": 0}, environ={})
    app = UsherApp(settings, no_server=True, background=False)
    async with app.run_test(size=(80, 24)):

        async def shown(text: str, present: bool = True) -> bool:
            return (text in header_status(app)) is present

        await eventually(lambda: shown("no server running"), timeout=30)
        await asyncio.to_thread(own_postgres_server.halt)
        try:
            await eventually(lambda: shown("database unreachable"), timeout=60)
        finally:
            await asyncio.to_thread(own_postgres_server.resume)
        await eventually(lambda: shown("database unreachable", present=False), timeout=60)
        assert "no server running" in header_status(app)
        assert app.store is not None
        engine = app.store.engine
        assert isinstance(engine, PostgresEngine)
        await eventually(lambda: _true(engine.listening), timeout=30)


async def _true(value: bool) -> bool:
    return value


async def test_a_console_sees_a_signup_made_through_another_usher_serve_process(
    postgres_url: str,
) -> None:
    """A console with `--no-server` and a real `usher serve` on one PostgreSQL database: a
    signup on the server's /join page appears on the console's Approvals screen by itself,
    carried by the server's NOTIFY (waited for as an event; the time it took is printed, the
    goal being under 1 s)."""
    settings = load_settings({"db": postgres_url, "port": 0}, environ={})
    async with await Store.open(settings, hasher=cheap_hasher(), watch=False) as store:
        link = await make_link(store, auto_accept=False, confirm_email=False)
    proc, url = start_serve(postgres_url)
    try:
        app = UsherApp(settings, no_server=True, background=False)
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.press("f2")

            async def approvals_open() -> bool:
                await pilot.pause()
                return isinstance(app.screen, ApprovalsScreen) and app.screen.table.row_count == 0

            await eventually(approvals_open, timeout=30)
            assert app.store is not None
            engine = app.store.engine
            assert isinstance(engine, PostgresEngine)
            await eventually(lambda: _true(engine.listening), timeout=30)
            engine.heard.clear()
            path = f"/join/{link.token}"
            async with httpx.AsyncClient(timeout=60) as browser:
                token = csrf_from((await browser.get(url + path)).text)
                answer = await browser.post(
                    url + path,
                    data={
                        "_csrf_token": token,
                        "email": "far@example.org",
                        "first_name": "Far",
                        "last_name": "Away",
                        "password": GOOD_PASSWORD,
                        "password_confirm": GOOD_PASSWORD,
                    },
                    follow_redirects=False,
                )
            assert answer.status_code == 303, answer.text
            committed = time.monotonic()
            await asyncio.wait_for(engine.heard.wait(), 30)
            screen = app.screen
            assert isinstance(screen, ApprovalsScreen)

            async def shown() -> bool:
                await pilot.pause()
                return screen.table.row_count == 1

            await eventually(shown, timeout=30)
            took = time.monotonic() - committed
            print(f"another server's signup reached the console's Approvals in {took:.2f} s")
            key = row_keys(screen.table)[0]
            assert screen.table.get_cell(key, "email").plain == "far@example.org"
    finally:
        errors = stop_serves([(proc, url)])
    assert not errors, errors
