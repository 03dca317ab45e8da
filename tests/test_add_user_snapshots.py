"""The Add user screen at 80x24, the smallest terminal admins are promised: empty, and with an
address being refused as it is typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .test_console_snapshots import quiet_app, typed


def test_add_user_form_at_80x24(tmp_path: Path, snap_compare: Any) -> None:
    assert snap_compare(quiet_app(tmp_path), run_before=typed("f6"), terminal_size=(80, 24))


def test_add_user_invalid_email_at_80x24(tmp_path: Path, snap_compare: Any) -> None:
    keys = ["f6", *"Ann", "enter", *"Lee", "enter", *"ann@acme"]
    assert snap_compare(quiet_app(tmp_path), run_before=typed(*keys), terminal_size=(80, 24))
