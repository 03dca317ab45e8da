"""The console on PostgreSQL (issue 20): its header says when the database cannot be reached,
and recovers by itself when it can again."""

from __future__ import annotations

import asyncio

from console.app import UsherApp
from store import load_settings
from store.engine_postgres import PostgresEngine

from .fixtures_postgres import PostgresServer
from .helpers import eventually


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
