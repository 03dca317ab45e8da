"""Text boxes never pass a control character to the terminal: a .csv opened with ctrl+o on the
Bulk screen, or text pasted into any input, shows ESC as ␛ (and bidi controls as �) while the
value keeps what was loaded, so the preview can say where the problem is. Checked on the bytes
Textual would write to the terminal, and in a real terminal under tmux (its title stays)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from console.app import UsherApp
from console.dialogs.path import PathDialog
from console.screens.bulk import BulkScreen
from store import Settings

from .helpers import ROOT, child_env, eventually, usher_command
from .test_console_tmux import session_alive, wait_for

TITLE = "\x1b]2;pwned\x07"
RED = "\x1b[31m"
HOSTILE_CSV = f"Ann{TITLE} Lee,ann@acme.org\n{RED}Bo Ng,bo@acme.org\nCy \u202eHo,cy@acme.org\n"


def terminal_output(app: UsherApp) -> str:
    """Everything Textual would write to the terminal to paint the current screen."""
    update = app.screen._compositor.render_full_update()
    return update.render_segments(app.console)


def assert_inert(output: str) -> None:
    assert "\x1b]2;" not in output, "an OSC title sequence reached the terminal"
    assert "\x07" not in output, "a BEL reached the terminal"
    assert f"{RED}Bo" not in output, "the file's own colour code reached the terminal"
    assert "\u202e" not in output, "a bidi override reached the terminal"


async def open_csv(app: UsherApp, pilot: Pilot[int], path: Path) -> BulkScreen:
    await pilot.pause()
    await pilot.press("f7")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, BulkScreen)
    await pilot.press("ctrl+o")
    await pilot.pause()
    assert isinstance(app.screen, PathDialog)
    app.screen.query_one("#path", Input).value = str(path)
    await pilot.press("enter")

    async def loaded() -> bool:
        await pilot.pause()
        preview = screen.preview
        return preview is not None and preview.total == 3 and not screen._pending

    await eventually(loaded, timeout=20)
    return screen


async def test_a_loaded_csv_shows_escapes_as_symbols_and_never_writes_them(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "people.csv"
    source.write_text(HOSTILE_CSV, "utf-8")
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_csv(app, pilot, source)
        area = screen.lines_area
        assert area.text == HOSTILE_CSV  # the value keeps what was loaded
        rows = range(area.size.height)
        shown = ["".join(segment.text for segment in area.render_line(y)) for y in rows]
        assert any("Ann\u241b]2;pwned\u2407 Lee" in line for line in shown), shown
        assert any("\u241b[31mBo Ng" in line for line in shown), shown
        assert any("Cy \ufffdHo" in line for line in shown), shown
        assert_inert(terminal_output(app))

        assert screen.preview is not None
        assert screen.preview.ready_count == 0
        errors = {line.line: line.error for line in screen.preview.problems}
        assert "ESCAPE (U+001B), at position 4" in errors[1]
        assert "ESCAPE (U+001B), at position 1" in errors[2]
        assert "RIGHT-TO-LEFT OVERRIDE (U+202E), at position 4" in errors[3]


async def test_text_pasted_into_an_input_is_shown_with_symbols(settings: Settings) -> None:
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("f6")
        await pilot.pause()
        box = app.screen.query_one("#first", Input)
        box.focus()
        await pilot.pause()
        app.post_message(events.Paste(f"Ann{TITLE}"))
        await pilot.pause()
        assert box.value == f"Ann{TITLE}"
        line = "".join(segment.text for segment in box.render_line(0))
        assert "Ann\u241b]2;pwned\u2407" in line
        assert_inert(terminal_output(app))


def test_every_text_box_in_the_console_shows_control_characters() -> None:
    """Screens and dialogs make their text boxes from console.widgets.text_boxes, never from
    textual's Input or TextArea directly (those pass ESC to the terminal)."""
    raw = {"Input", "TextArea"}
    offenders = []
    for path in sorted((ROOT / "console").rglob("*.py")):
        if path.name == "text_boxes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            made = isinstance(node, ast.Call) and getattr(node.func, "id", None) in raw
            based = isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", None) in raw for base in node.bases
            )
            if made or based:
                offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    assert offenders == [], offenders


@pytest.mark.tmux
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by `make test`")
def test_a_loaded_csv_leaves_the_real_terminals_title_alone(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text(HOSTILE_CSV, "utf-8")
    session = f"usher-{uuid.uuid4().hex[:8]}"
    command = " ".join(usher_command("console", "--db", str(tmp_path / "u.db"), "--no-server"))
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
         f"cd {ROOT} && {command}"],
        env=child_env(TERM="xterm-256color"),
        check=True,
    )  # fmt: skip

    def title() -> str:
        return subprocess.run(
            ["tmux", "display", "-p", "-t", session, "#{pane_title}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def keys(*names: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", session, *names], check=True)

    try:
        wait_for(session, r"Home")
        before = title()
        assert "pwned" not in before
        keys("F7")
        wait_for(session, r"Bulk")
        keys("C-o")
        wait_for(session, r"Open a \.csv file")
        wait_for(session, re.escape(f"{ROOT}/"))  # the field holds its default
        for _attempt in range(3):  # keys typed before the field has focus go nowhere
            keys("C-u")
            keys("-l", str(source))
            try:
                wait_for(session, re.escape(source.name), timeout=10)
                break
            except AssertionError:
                continue
        keys("Enter")
        wait_for(session, r"Ann\u241b\]2;pwned\u2407 Lee")
        screen = wait_for(session, r"0 ready").string
        assert "\u241b[31mBo Ng" in screen
        assert title() == before, "the terminal title changed"
        assert "pwned" not in title()
    finally:
        if session_alive(session):
            subprocess.run(["tmux", "kill-session", "-t", session], check=False)
        deadline = time.monotonic() + 10
        while session_alive(session) and time.monotonic() < deadline:
            time.sleep(0.1)
