"""Layout at 80x24, the smallest terminal admins are promised: snapshots of the shell."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from console.app import UsherApp
from store import load_settings


def typed(*keys: str) -> Callable[[Pilot[int]], Awaitable[None]]:
    """`run_before` for snap_compare: press `keys`, then wait until the console has handled
    every one (keys are handed on one at a time) before the picture is taken."""

    async def run(pilot: Pilot[int]) -> None:
        await pilot.press(*keys)
        app = pilot.app
        assert isinstance(app, UsherApp)
        await app.keys.settled.wait()
        for box in app.screen.query(Input):
            box.cursor_blink = False  # a blinking cursor would make the picture depend on time
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()

    return run


def quiet_app(tmp_path: Path) -> UsherApp:
    settings = load_settings(
        {"db": str(tmp_path / "usher.db"), "port": 8000, "org": "Acme Corp"}, environ={}
    )
    return UsherApp(settings, no_server=True)


def test_empty_dashboard_at_80x24(tmp_path: Path, snap_compare: Any) -> None:
    assert snap_compare(quiet_app(tmp_path), terminal_size=(80, 24))


def test_help_overlay_at_80x24(tmp_path: Path, snap_compare: Any) -> None:
    assert snap_compare(
        quiet_app(tmp_path), run_before=typed("question_mark"), terminal_size=(80, 24)
    )
