"""Issue 16: a snapshot of every screen at 80x24 with realistic data (long names and addresses,
two-digit counts, a rejection, invitations, links, mail, audit rows). Times are pinned: the
clock is moved to a fixed moment, every stored time set relative to it, tokens made fixed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TextArea

from console.app import UsherApp
from console.logs import LogLine
from store import Settings, Store, load_settings
from store.domain.clock import moved_clock, now, to_db

from .fixtures_screens import populate

MOMENT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SCREENS = ["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f12"]


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """UTC as the local zone, and Usher's clock at MOMENT (give or take the test's length)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        with moved_clock(MOMENT - now()):
            yield
    finally:
        monkeypatch.undo()
        time.tzset()


async def _pin_times(store: Store) -> None:
    """Every stored time becomes MOMENT minus 2 hours (an `expires_at`: plus 14 days), and
    every token a fixed one, so nothing in the picture depends on when the test ran."""
    past, future = to_db(MOMENT - timedelta(hours=2)), to_db(MOMENT + timedelta(days=14))
    tables = [
        str(row[0])
        for row in await store.engine.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    async with store.write(*tables) as tx:
        for table in tables:
            columns = await tx.fetchall(f"PRAGMA table_info({table})")
            for column in (str(c[1]) for c in columns):
                if column.endswith("_at") or column == "at":
                    value = future if column == "expires_at" else past
                    await tx.execute(
                        f"UPDATE {table} SET {column} = ? WHERE {column} IS NOT NULL",  # noqa: S608
                        (value,),
                    )
                if column == "token":
                    await tx.execute(
                        f"UPDATE {table} SET token = 'tok-' || rowid",  # noqa: S608
                    )


async def _prepare(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        await populate(store)
        await _pin_times(store)


def _shown(key: str) -> Callable[[Pilot[int]], Awaitable[None]]:
    async def run(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, UsherApp)
        if key == "f12":  # the log's own times are the wall clock's: pinned like the rest
            lines = app.log_buffer.lines
            pinned = [LogLine(MOMENT.replace(tzinfo=None), ln.level, ln.text) for ln in lines]
            lines.clear()
            lines.extend(pinned)
        await pilot.press(key)
        await app.keys.settled.wait()
        for _ in range(200):  # until the screen's table has read its rows (or it has none)
            tables = app.screen.query(DataTable)
            if key in ("f1", "f4", "f6", "f7", "f12") or (tables and tables.first().row_count):
                break
            await pilot.pause(0.05)
        for box in [*app.screen.query(Input), *app.screen.query(TextArea)]:
            box.cursor_blink = False
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()

    return run


@pytest.mark.parametrize("key", SCREENS)
def test_screen_at_80x24_with_realistic_data(
    key: str, tmp_path: Path, pinned: None, snap_compare: Any
) -> None:
    settings = load_settings(
        {"db": str(tmp_path / "usher.db"), "port": 8000, "org": "Acme Research Laboratories"},
        environ={},
    )
    asyncio.run(_prepare(settings))
    app = UsherApp(settings, no_server=True)
    assert snap_compare(app, run_before=_shown(key), terminal_size=(80, 24))
