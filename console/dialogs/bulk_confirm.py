"""Ask once before a bulk creation: how many accounts, how many lines skipped, what happens."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class BulkConfirmDialog(ModalScreen[bool]):
    """Answers True to go ahead, False to go back (escape)."""

    DEFAULT_CSS = """
    BulkConfirmDialog { align: center middle; }
    BulkConfirmDialog > Vertical {
        width: 72; max-width: 100%; height: auto;
        border: round $accent; background: $surface; padding: 1 2;
    }
    BulkConfirmDialog .title { text-style: bold; }
    BulkConfirmDialog .note { color: $text-muted; }
    BulkConfirmDialog Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    BulkConfirmDialog Button { margin-left: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, notes: list[str], confirm_label: str) -> None:
        super().__init__()
        self._title = title
        self._notes = notes
        self._confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, classes="title", markup=False)
            for note in self._notes:
                yield Static(note, classes="note", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button(self._confirm_label, id="confirm", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
