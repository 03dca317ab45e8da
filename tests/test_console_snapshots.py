"""Layout at 80x24, the smallest terminal admins are promised: snapshots of the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.app import UsherApp
from store import load_settings


def quiet_app(tmp_path: Path) -> UsherApp:
    settings = load_settings(
        {"db": str(tmp_path / "usher.db"), "port": 8000, "org": "Acme Corp"}, environ={}
    )
    return UsherApp(settings, no_server=True)


def test_empty_dashboard_at_80x24(tmp_path: Path, snap_compare: Any) -> None:
    assert snap_compare(quiet_app(tmp_path), terminal_size=(80, 24))


def test_help_overlay_at_80x24(tmp_path: Path, snap_compare: Any) -> None:
    assert snap_compare(quiet_app(tmp_path), press=["question_mark"], terminal_size=(80, 24))
