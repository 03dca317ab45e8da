"""Issue 16: a `--no-server` console shows and copies the URL of the process that really serves
its database (recorded by `usher serve` in store.service.served_url), follows it live, and says when
it stops."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from console.app import UsherApp
from console.screens.links import LinksScreen
from store import Settings, Store
from store.service.served_url import current_server, settings_for_links

from .helpers import eventually, make_link, run_usher, start_serve

PUBLIC = "https://signup.example.org"


def recorded_elsewhere(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        try:
            found = conn.execute("SELECT count(*) FROM servers WHERE url = ?", (PUBLIC,)).fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            found = (0,)
    conn.close()
    return bool(found[0])


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


async def test_migration_17_adds_only_the_servers_table(tmp_path: Path) -> None:
    """Applied on its own, to a database at 16: the step that records serving processes."""
    from store.database.engine import Engine
    from store.database.migrations import V17_SERVERS, migrate

    from .fixtures_migrations import migrate_below

    engine = await Engine.open(str(tmp_path / "old.db"))
    try:
        await migrate_below(engine, 17)
        before = {str(r[0]) for r in await engine.fetchall("SELECT name FROM sqlite_master")}
        assert await engine.migrate(17, V17_SERVERS)
        after = {str(r[0]) for r in await engine.fetchall("SELECT name FROM sqlite_master")}
        assert after - before == {"servers", "sqlite_autoindex_servers_1"}
        assert await engine.user_version() == 17
        await migrate(engine)  # and the rest still applies on top
    finally:
        await engine.close()


def test_links_commands_print_the_url_of_the_server_running_on_the_database(
    tmp_path: Path,
) -> None:
    """`usher links create` / `list` without --public-url on a database a `usher serve` serves:
    the URL printed is the one people can open (it used to be http://127.0.0.1:8000)."""
    db = tmp_path / "usher.db"
    proc, _ = start_serve(db, "--public-url", PUBLIC)
    try:
        deadline = time.monotonic() + 60
        while not recorded_elsewhere(db):  # the server records itself as it starts serving
            assert time.monotonic() < deadline, "usher serve never recorded its URL"
            time.sleep(0.1)
        made = run_usher("links", "create", "--level", "member", "--label", "CLI", "--db", str(db))
        assert made.returncode == 0, made.stderr
        assert made.stdout.strip().startswith(f"{PUBLIC}/join/")
        listed = run_usher("links", "list", "--json", "--db", str(db))
        assert listed.returncode == 0, listed.stderr
        assert f'"url": "{made.stdout.strip()}"' in listed.stdout.replace('":"', '": "')
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    after = run_usher("links", "list", "--json", "--db", str(db))
    assert PUBLIC not in after.stdout  # the server stopped: the configured URL again
