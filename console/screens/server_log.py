"""The embedded server's log lines (requests, start, stop), which must never reach the terminal
directly: the TUI owns it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import RichLog

from ..logs import LogLine
from .base import UsherScreen

_LEVEL_STYLES = {"WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}


def render_line(line: LogLine) -> Text:
    text = Text(no_wrap=False)
    text.append(line.when.strftime("%H:%M:%S "), style="dim")
    if line.level != "INFO":
        text.append(f"{line.level} ", style=_LEVEL_STYLES.get(line.level, ""))
    text.append(line.text)
    return text


class ServerLogScreen(UsherScreen):
    TITLE = "Server log"
    HELP: ClassVar[str] = (
        "What the embedded signup server did: requests (tokens in paths are redacted), "
        "start and stop, errors. The newest lines are at the bottom."
    )

    def compose_body(self) -> ComposeResult:
        yield RichLog(id="log", wrap=True, max_lines=2000, auto_scroll=True)

    def on_mount(self) -> None:
        log = self.query_one(RichLog)
        for line in list(self.usher.log_buffer.lines):
            log.write(render_line(line))
        self.usher.log_listeners.add(self._append)

    def on_unmount(self) -> None:
        self.usher.log_listeners.discard(self._append)

    def _append(self, line: LogLine) -> None:
        self.query_one(RichLog).write(render_line(line))
