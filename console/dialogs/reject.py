"""Reject one or more sign-ups, with an optional reason that goes into their email."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..widgets.text_boxes import SafeInput

SHOWN_NAMES = 4


def people_line(names: Sequence[str]) -> Text:
    """`Bea Smith, Carl Ng and 3 more` as data (never markup)."""
    shown = list(names[:SHOWN_NAMES])
    text = Text(", ".join(shown), no_wrap=False)
    if len(names) > SHOWN_NAMES:
        text.append(f" and {len(names) - SHOWN_NAMES} more")
    return text


class RejectDialog(ModalScreen[str | None]):
    """Answers the reason ("" for none), or None when cancelled."""

    CSS_PATH = "reject.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self._names = list(names)

    def compose(self) -> ComposeResult:
        count = len(self._names)
        title = "Reject 1 person" if count == 1 else f"Reject {count} people"
        with Vertical():
            yield Static(title, classes="title", markup=False)
            yield Static(people_line(self._names), id="who")
            yield Label("Reason (optional; it is included in their email)")
            yield SafeInput(placeholder="e.g. not a member of staff", id="reason", max_length=1000)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Reject", id="reject", variant="error")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    @on(Button.Pressed, "#reject")
    def _confirm(self) -> None:
        self.dismiss(self.query_one("#reason", Input).value.strip())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
