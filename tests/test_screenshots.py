"""`make screenshots` still runs (issue 21): the README's pictures come from a seeded demo
database, so the test makes them all afresh and reads what they show."""

from __future__ import annotations

import html
import re
import struct
import subprocess
import sys
from pathlib import Path

from .helpers import ROOT, child_env


def svg_text(path: Path) -> str:
    """The words a Textual SVG shows (its text runs, spaces as in the terminal)."""
    runs = re.findall(r"<text[^>]*>([^<]*)</text>", path.read_text())
    return html.unescape("".join(runs)).replace("\xa0", " ")


def png_width(path: Path) -> int:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int(struct.unpack(">I", data[16:20])[0])


def test_make_screenshots_draws_the_console_and_the_phone_pages(tmp_path: Path) -> None:
    out = tmp_path / "shots"
    done = subprocess.run(
        [sys.executable, "scripts/screenshots.py", "--out", str(out)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Signups, 14 days" in svg_text(out / "console-home.svg")
    assert "Newest ways in" in svg_text(out / "console-home.svg")
    assert "Amara" in svg_text(out / "console-approvals.svg")  # a pending row, drawn
    assert "Add 4 users" in svg_text(out / "console-bulk.svg")  # the preview counted the lines
    for page in ("page-join.png", "page-check-email.png"):
        assert png_width(out / page) == 780  # a 390-pixel phone at twice the density
