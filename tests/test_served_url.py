"""Issue 16: a `--no-server` console shows and copies the URL of the process that really serves
its database (recorded by `usher serve` in store.served_url), follows it live, and says when
it stops."""

from __future__ import annotations

import signal
from pathlib import Path

from console.app import UsherApp
from console.screens.links import LinksScreen
from store import Settings, Store
from store.served_url import current_server, settings_for_links

from .fixtures_links import make_link
from .helpers import eventually, start_serve

PUBLIC = "https://signup.example.org"


def header_status(app: UsherApp) -> str:
    return str(app.screen.query_one("#status").render())


async def test_a_no_server_console_shows_and_copies_the_served_url(settings: Settings) -> None:
    db = Path(settings.db)
    proc, _ = start_serve(db, "--public-url", PUBLIC)
    try:
        app = UsherApp(settings, no_server=True)
        async with app.run_test(size=(80, 24)) as pilot:

            async def noticed() -> bool:
                return PUBLIC in header_status(app) and "another process" in header_status(app)

            await eventually(noticed, timeout=30)
            assert app.store is not None
            link = await make_link(app.store, label="Spring")
            await pilot.press("f3")

            async def listed() -> bool:
                screen = app.screen
                return isinstance(screen, LinksScreen) and screen.selected() is not None

            await eventually(listed, timeout=30)
            await pilot.press("c")
            await app.keys.settled.wait()

            async def copied() -> bool:
                return app.clipboard == f"{PUBLIC}/join/{link.token}"

            await eventually(copied, timeout=30)
            assert "127.0.0.1" not in app.clipboard
            await pilot.press("escape")  # the first copy's "select it here" dialog
            await eventually(listed, timeout=30)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)

            async def stopped() -> bool:
                return "no server running" in header_status(app)

            await eventually(stopped, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


async def test_a_killed_server_no_longer_counts(settings: Settings, store: Store) -> None:
    proc, _ = start_serve(Path(settings.db), "--public-url", PUBLIC)
    try:

        async def recorded() -> bool:
            server = await current_server(store)
            return server is not None and server.url == PUBLIC

        await eventually(recorded, timeout=30)
        proc.kill()  # SIGKILL: the process commits nothing on the way out
        proc.wait(timeout=60)
        assert await current_server(store) is None
        assert settings_for_links(settings, None).base_url == settings.base_url
        assert await store.engine.scalar("SELECT count(*) FROM servers") == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


async def test_migration_12_adds_only_the_servers_table(tmp_path: Path) -> None:
    """Applied on its own, to a database at 11: the step that records serving processes."""
    from store.engine import Engine
    from store.migrations import MIGRATIONS, V12_SERVERS, migrate

    engine = await Engine.open(str(tmp_path / "old.db"))
    try:
        for version, step in MIGRATIONS:
            if version >= 12:
                break
            if isinstance(step, str):
                step = step.replace("{secret_key}", "00" * 32)
            await engine.migrate(version, step)
        before = {str(r[0]) for r in await engine.fetchall("SELECT name FROM sqlite_master")}
        assert await engine.migrate(12, V12_SERVERS)
        after = {str(r[0]) for r in await engine.fetchall("SELECT name FROM sqlite_master")}
        assert after - before == {"servers", "sqlite_autoindex_servers_1"}
        assert await engine.user_version() == 12
        await migrate(engine)  # and the rest still applies on top
    finally:
        await engine.close()
