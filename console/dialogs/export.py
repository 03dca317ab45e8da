"""Ask where to write an export; problems with the path are shown next to the field."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


def path_problem(text: str) -> str:
    """Why a file cannot be written there, or "" when it can (the export makes it 0600)."""
    if not text.strip():
        return "Give a file name."
    path = Path(text.strip()).expanduser()
    if path.is_dir():
        return "That is a folder: add a file name."
    if path.exists():
        return "That file already exists: choose another name."
    if not path.parent.is_dir():
        return f"The folder {str(path.parent)!r} does not exist."
    return ""


class ExportDialog(ModalScreen[str | None]):
    """Answers the path to write, or None when cancelled."""

    DEFAULT_CSS = """
    ExportDialog { align: center middle; }
    ExportDialog > Vertical {
        width: 76; max-width: 100%; height: auto;
        border: round $accent; background: $surface; padding: 1 2;
    }
    ExportDialog .title { text-style: bold; }
    ExportDialog #note { color: $text-muted; margin-bottom: 1; }
    ExportDialog #problem { color: $text-error; height: auto; }
    ExportDialog Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    ExportDialog Button { margin-left: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, note: str, default_path: str) -> None:
        super().__init__()
        self._title = title
        self._note = note
        self._default = default_path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, classes="title", markup=False)
            yield Static(self._note, id="note", markup=False)
            yield Label("File (created readable only by you, mode 0600)")
            yield Input(value=self._default, id="path")
            yield Static("", id="problem", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Export", id="export", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#export")
    def _confirm(self) -> None:
        value = self.query_one("#path", Input).value
        problem = path_problem(value)
        self.query_one("#problem", Static).update(problem)
        if not problem:
            self.dismiss(str(Path(value.strip()).expanduser()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
